"""The Pub/Sub hop of each phase: were its completions published, delivered to the
orchestrator and acknowledged, and if not, where did they go?

A message published to a phase's completion topic ends in one of four places: acknowledged
by the orchestrator (pushed and accepted), waiting in the subscription's backlog (refused
so far, to be retried), dead-lettered, or gone (refused and neither waiting nor
dead-lettered: dropped after its delivery attempts or its retention). Cloud Monitoring
counts the first three; the fourth is what is left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from orchwatch.config import Config, PhaseSpec
from orchwatch.dates import humanize_age
from orchwatch.plural import counted
from orchwatch.pubsub import (
    PUSH_ACK,
    REFUSAL_CLASSES,
    Point,
    PubSubReading,
    Subscription,
    SubscriptionMetrics,
    TopicReading,
)


class HopLevel(StrEnum):
    """How a hop is: a verdict word, worst last."""

    OK = "ok"
    UNKNOWN = "unknown"
    """Something needed for a verdict could not be read: never shown as fine."""
    WARN = "warn"
    FAIL = "fail"


GROWING_FOR = timedelta(minutes=10)
"""A backlog that has grown for this long, point after point, is a verdict of its own."""


@dataclass(frozen=True, slots=True)
class HopBucket:
    """One step of the window: what was published, acknowledged and refused in it, and
    the backlog at its end."""

    at: datetime
    published: int
    acked: int
    refused: int
    backlog: int


@dataclass(frozen=True)
class Hop:
    """One phase's completion hop: topic -> the orchestrator's subscription -> Firestore."""

    phase: str
    topic: str | None
    orchestrator: str | None
    level: HopLevel
    verdict: str
    """One line, worst finding first."""
    details: tuple[str, ...] = ()
    subscription: Subscription | None = None
    """The subscription that delivers the topic to the orchestrator."""
    others: tuple[Subscription, ...] = ()
    """The topic's other subscriptions."""
    published: int | None = None
    acked: int | None = None
    refused: Mapping[str, int] = field(default_factory=dict)
    """Refused pushes by `response_class`."""
    refused_span: tuple[datetime, datetime] | None = None
    """From the first refused bucket's start to the last one's end."""
    backlog: int | None = None
    """Messages waiting now (the last point of the window)."""
    oldest_unacked: float | None = None
    dead_lettered: int | None = None
    dropped: int | None = None
    """Published, and neither acknowledged, waiting nor dead-lettered: gone."""
    trigger_topic: str | None = None
    trigger_subscriptions: tuple[Subscription, ...] = ()
    """What delivers the next phase's trigger (empty: nothing does)."""
    buckets: tuple[HopBucket, ...] = ()
    """The window step by step (empty when the counts are unknown)."""
    refusing_now: bool = False
    """The latest pushes (in the window's last two buckets) were all refused: the
    orchestrator still refuses, and a message published now would be refused too."""


def window(day: date, zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime] | None:
    """The moments a date's Pub/Sub traffic is read over: the calendar day in the
    pipeline's zone, up to now; None when the day has not begun.

    Cloud Monitoring counts messages by time, not by the date inside them: a window that
    ran into the next morning would count that day's messages as this one's."""
    since = datetime.combine(day, time(0), tzinfo=zone)
    until = min(since + timedelta(days=1), now)
    return (since, until) if until > since else None


def topics_of(config: Config) -> list[str]:
    """Every completion and trigger topic the configuration names, once each, in order."""
    names: list[str] = []
    for phase in config.phases:
        for topic in (phase.completion_topic, phase.trigger_topic):
            if topic and topic not in names:
                names.append(topic)
    return names


def judge(config: Config, reading: PubSubReading) -> list[Hop]:
    """Each phase's hop, in pipeline order (phases without a completion topic are left out)."""
    return [
        _judge_phase(phase, reading, config.shown_zone)
        for phase in config.phases
        if phase.completion_topic
    ]


def _judge_phase(phase: PhaseSpec, reading: PubSubReading, zone: ZoneInfo) -> Hop:
    topic = phase.completion_topic or ""
    found = reading.topics.get(topic)
    trigger = reading.topics.get(phase.trigger_topic) if phase.trigger_topic else None
    trigger_subs = trigger.subscriptions if trigger is not None else ()
    base = Hop(
        phase=phase.name,
        topic=topic,
        orchestrator=phase.orchestrator,
        level=HopLevel.UNKNOWN,
        verdict="",
        trigger_topic=phase.trigger_topic,
        trigger_subscriptions=trigger_subs,
    )
    if found is None:
        return replace(base, level=HopLevel.UNKNOWN, verdict=f"{topic} was not read")
    if not found.exists:
        return replace(
            base,
            level=HopLevel.FAIL,
            verdict=f"topic {topic} does not exist: nothing the processors publish arrives",
        )
    target = phase.orchestrator
    # Without an orchestrator the next phase's processors subscribe to the topic
    # themselves: any subscription of it is the hop.
    ours = (
        [s for s in found.subscriptions if s.delivers_to(target)]
        if target
        else list(found.subscriptions)
    )
    others = tuple(s for s in found.subscriptions if s not in ours)
    broken, notes = _trigger_notes(phase, trigger)
    if not ours:
        who = target or f"{phase.next_phase or 'the next phase'}'s processors"
        return replace(
            base,
            level=HopLevel.FAIL,
            verdict=f"no subscription delivers {topic} to {who}",
            details=(
                f"{counted(len(found.subscriptions), 'other subscription')} on the topic: "
                + (", ".join(s.name for s in found.subscriptions) or "none"),
                *broken,
                *notes,
            ),
            others=others,
        )
    sub = ours[0]
    duplicate = (  # the runbook's "duplicate push subscriptions"
        [
            f"{counted(len(ours), 'subscription')} push {topic} to {phase.orchestrator} "
            f"({', '.join(s.name for s in ours)}): every completion is delivered "
            f"{len(ours)} times; delete all but one"
        ]
        if len(ours) > 1
        else []
    )
    state = (
        [f"{sub.name} is {sub.state}: Pub/Sub cannot deliver through it"]
        if sub.state not in ("ACTIVE", "")
        else []
    )
    if reading.metrics_error:
        return replace(
            base,
            level=HopLevel.UNKNOWN,
            verdict=f"counts unknown: {reading.metrics_error}",
            details=(*state, *duplicate, _config_line(sub), *broken, *notes),
            subscription=sub,
            others=others,
        )
    found_hop = _Found(sub, others, found, [*state, _config_line(sub), *notes], broken, duplicate)
    metrics = reading.metrics.get(sub.name, SubscriptionMetrics())
    return _counted_hop(base, found_hop, metrics, reading, zone)


@dataclass(frozen=True)
class _Found:
    """What the configuration says of a hop whose counts are to be judged."""

    sub: Subscription
    """The subscription that delivers the topic to the orchestrator."""
    others: tuple[Subscription, ...]
    topic: TopicReading
    details: list[str]
    """The settings and the notes, in the order they are said."""
    broken: list[str]
    """What stops the next phase from hearing of this one: it leads the verdict."""
    duplicate: list[str]
    """Two subscriptions pushing one topic to the orchestrator: a warning."""


def _counted_hop(
    base: Hop,
    found: _Found,
    metrics: SubscriptionMetrics,
    reading: PubSubReading,
    zone: ZoneInfo,
) -> Hop:
    sub, topic, details = found.sub, found.topic, list(found.details)
    published = round(sum(p.value for p in topic.published))
    acked = sum(p.count for p in metrics.pushes if p.response_class == PUSH_ACK)
    refused: dict[str, int] = {}
    refused_at: list[datetime] = []
    for push in metrics.pushes:
        if push.response_class != PUSH_ACK and push.count:
            refused[push.response_class] = refused.get(push.response_class, 0) + push.count
            refused_at.append(push.at)
    backlog = round(metrics.backlog[-1].value) if metrics.backlog else 0
    oldest = metrics.oldest_unacked[-1].value if metrics.oldest_unacked else None
    dead = round(sum(p.value for p in metrics.dead_lettered))
    dropped = max(0, published - acked - backlog - dead)
    span = (min(refused_at), max(refused_at) + reading.step) if refused_at else None
    growing = _growing_for(metrics.backlog)
    refusing_now = _refusing_now(metrics, reading)
    level = HopLevel.OK
    lines: list[str] = []
    if span is not None:
        what = ", ".join(
            f"{REFUSAL_CLASSES.get(c, c)} ×{n}"
            for c, n in sorted(refused.items(), key=lambda i: -i[1])
        )
        lines.append(f"pushes refused {_span(span, zone)} ({what})")
        level = HopLevel.WARN
    if dropped:
        level = HopLevel.FAIL
        lines.append(
            f"{counted(dropped, 'message')} dropped: not acknowledged, not waiting, "
            + (
                f"not dead-lettered to {sub.dead_letter_topic}"
                if sub.dead_letter_topic
                else "no dead-letter topic"
            )
        )
    if backlog:
        age = f", oldest {humanize_age(oldest)}" if oldest else ""
        lines.append(f"{counted(backlog, 'message')} waiting{age}")
        if growing is not None:
            level = HopLevel.FAIL
            lines.append(f"backlog growing for {humanize_age(growing.total_seconds())}")
        elif level is HopLevel.OK:
            level = HopLevel.WARN
    if dead:
        level = HopLevel.FAIL
        lines.append(f"{counted(dead, 'message')} dead-lettered to {sub.dead_letter_topic or '?'}")
    if found.broken:
        level = HopLevel.FAIL
        lines = [*found.broken, *lines]
    if found.duplicate:
        lines += found.duplicate
        if level is HopLevel.OK:
            level = HopLevel.WARN
    if not lines and not published:
        level = HopLevel.UNKNOWN  # no message: no evidence the hop delivers
        lines.append("nothing published in the window: no evidence either way")
    elif not lines:
        lines.append(
            f"{counted(published, 'completion')} published, {acked} acknowledged, nothing waiting"
        )
    verdict = "; ".join(lines[:2])
    if dropped and not sub.dead_letter_topic:
        details.insert(0, _fate(sub))
    return replace(
        base,
        level=level,
        verdict=verdict,
        details=tuple([*lines[2:], *details]),
        subscription=sub,
        others=found.others,
        published=published,
        acked=acked,
        refused=refused,
        refused_span=span,
        backlog=backlog,
        oldest_unacked=oldest,
        dead_lettered=dead,
        dropped=dropped,
        refusing_now=refusing_now,
        buckets=_buckets(topic, metrics, reading),
    )


def _buckets(
    topic: TopicReading, metrics: SubscriptionMetrics, reading: PubSubReading
) -> tuple[HopBucket, ...]:
    """The window in steps, from the series (a step with no point counts nothing)."""
    steps = max(1, -(-(reading.until - reading.since) // reading.step))
    start = reading.since
    table = {k: [0, 0, 0, 0] for k in range(steps)}

    def index(at: datetime) -> int:
        return min(max(int((at - start) // reading.step), 0), steps - 1)

    for point in topic.published:
        table[index(point.at)][0] += round(point.value)
    for push in metrics.pushes:
        table[index(push.at)][1 if push.response_class == PUSH_ACK else 2] += push.count
    for point in metrics.backlog:
        row = table[index(point.at)]
        row[3] = max(row[3], round(point.value))
    return tuple(HopBucket(start + reading.step * k, *table[k]) for k in range(steps))


SPARKS = " ▁▂▃▄▅▆▇█"


def spark(values: Sequence[int], width: int) -> str:
    """Values as a line of `width` block characters (each the most of the values it
    covers; blank for none), scaled to the largest."""
    if not values or width <= 0:
        return ""
    width = min(width, len(values))
    columns = [
        max(
            values[
                len(values) * c // width : max(
                    len(values) * (c + 1) // width, len(values) * c // width + 1
                )
            ]
        )
        for c in range(width)
    ]
    top = max(columns)
    if top <= 0:
        return SPARKS[0] * width
    return "".join(
        SPARKS[0] if v <= 0 else SPARKS[max(1, round(v / top * (len(SPARKS) - 1)))] for v in columns
    )


def _refusing_now(metrics: SubscriptionMetrics, reading: PubSubReading) -> bool:
    recent = [p for p in metrics.pushes if p.at >= reading.until - 2 * reading.step and p.count]
    return bool(recent) and all(p.response_class != PUSH_ACK for p in recent)


def _retry(sub: Subscription) -> str:
    """The subscription's retry policy in words: `retry 10–600 s`, or at once."""
    if sub.retry_backoff is None:
        return "retry at once"
    return f"retry {sub.retry_backoff[0]:g}–{sub.retry_backoff[1]:g} s"


def _fate(sub: Subscription) -> str:
    """Why a refused message was not kept, from the subscription's settings."""
    trigger = (
        " (a Cloud Functions trigger without retries gives each message one delivery attempt)"
        if sub.eventarc
        else ""
    )
    return (
        f"no dead-letter topic: the subscription is set to {_retry(sub)} for "
        f"{humanize_age(sub.retention.total_seconds())}, yet the refused messages are not "
        f"waiting, so they were discarded{trigger}"
    )


def _config_line(sub: Subscription) -> str:
    retry = _retry(sub)
    dlt = (
        f"dead-letter {sub.dead_letter_topic} after {sub.max_delivery_attempts}"
        if sub.dead_letter_topic
        else "no dead-letter topic"
    )
    acked = ", keeps acked messages" if sub.retain_acked else ""
    return (
        f"{sub.name}: push, ack deadline {sub.ack_deadline_seconds} s, {retry}, {dlt}, "
        f"retention {humanize_age(sub.retention.total_seconds())}{acked}"
    )


def _trigger_notes(phase: PhaseSpec, trigger: TopicReading | None) -> tuple[list[str], list[str]]:
    """What is wrong with the next phase's trigger topic (a failure of the hop), and what
    is only said of it (it was not read)."""
    name = phase.trigger_topic
    if not name:
        return [], []
    if trigger is None:
        return [], [f"{name} was not read"]
    if not trigger.exists:
        return [f"trigger topic {name} does not exist: the next phase cannot start"], []
    if not trigger.subscriptions:
        return [f"no subscription delivers {name}: the next phase never hears of it"], []
    return [], []


def _growing_for(points: Sequence[Point]) -> timedelta | None:
    """How long the backlog has risen (never falling) up to its last point, if at least
    `GROWING_FOR`; None otherwise."""
    if len(points) < 2 or points[-1].value <= 0:
        return None
    start = len(points) - 1
    while start > 0 and points[start - 1].value < points[start].value:
        start -= 1  # back to where it last rose from (a flat stretch is not growth)
    if points[start].value >= points[-1].value:
        return None
    grown = points[-1].at - points[start].at
    return grown if grown >= GROWING_FOR else None


def _span(span: tuple[datetime, datetime], zone: ZoneInfo) -> str:
    """`05:45–06:30`, with the dates when the span is not within one day."""
    start, end = (moment.astimezone(zone) for moment in span)
    if start.date() == (end - timedelta(microseconds=1)).date():
        return f"{start:%m-%d %H:%M}–{end:%H:%M}"
    return f"{start:%m-%d %H:%M}–{end:%m-%d %H:%M}"


def hop_json(hop: Hop) -> dict[str, object]:
    """A hop as JSON-ready data (`orchwatch pubsub --format json`)."""

    def sub_json(sub: Subscription) -> dict[str, object]:
        return {
            "name": sub.name,
            "topic": sub.topic,
            "push_endpoint": sub.push_endpoint,
            "ack_deadline_seconds": sub.ack_deadline_seconds,
            "retry_policy": (
                {
                    "minimum_backoff_s": sub.retry_backoff[0],
                    "maximum_backoff_s": sub.retry_backoff[1],
                }
                if sub.retry_backoff
                else None
            ),
            "dead_letter_policy": (
                {"topic": sub.dead_letter_topic, "max_delivery_attempts": sub.max_delivery_attempts}
                if sub.dead_letter_topic
                else None
            ),
            "message_retention_s": sub.retention.total_seconds(),
            "retain_acked_messages": sub.retain_acked,
            "filter": sub.filter,
            "state": sub.state,
        }

    return {
        "phase": hop.phase,
        "topic": hop.topic,
        "orchestrator": hop.orchestrator,
        "level": str(hop.level),
        "verdict": hop.verdict,
        "details": list(hop.details),
        "subscription": sub_json(hop.subscription) if hop.subscription else None,
        "other_subscriptions": [sub_json(s) for s in hop.others],
        "counts": {
            "published": hop.published,
            "acknowledged": hop.acked,
            "refused": dict(hop.refused),
            "waiting": hop.backlog,
            "oldest_unacked_s": hop.oldest_unacked,
            "dead_lettered": hop.dead_lettered,
            "dropped": hop.dropped,
        },
        "refused_span": [t.isoformat() for t in hop.refused_span] if hop.refused_span else None,
        "trigger_topic": hop.trigger_topic,
        "trigger_subscriptions": [sub_json(s) for s in hop.trigger_subscriptions],
    }


LEVEL_WORD = {
    HopLevel.OK: "ok",
    HopLevel.UNKNOWN: "unknown",
    HopLevel.WARN: "warn",
    HopLevel.FAIL: "FAIL",
}


def hop_lines(
    hops: Sequence[Hop],
    span: tuple[datetime, datetime] | None,
    zone: ZoneInfo,
    markdown: bool = False,
) -> list[str]:
    """The hops as text (or markdown): a heading with the window, then per phase its
    verdict and the details under it."""
    when = (
        f"{span[0].astimezone(zone):%Y-%m-%d %H:%M}–{span[1].astimezone(zone):%H:%M %Z}"
        if span
        else "no window"
    )
    lines = [f"## Pub/Sub, {when}" if markdown else f"Pub/Sub, {when}"]
    if not hops:
        lines.append("no phase has a completion_topic in the configuration")
    for hop in hops:
        head = f"{hop.phase} {hop.topic} → {hop.orchestrator or '?'}"
        if markdown:
            lines.append(f"- **{LEVEL_WORD[hop.level]}** {head}: {hop.verdict}")
            lines += [f"  - {d}" for d in hop.details]
        else:
            lines.append(f"{LEVEL_WORD[hop.level]:<7} {head}")
            lines.append(f"        {hop.verdict}")
            lines += [f"          {d}" for d in hop.details]
    return lines
