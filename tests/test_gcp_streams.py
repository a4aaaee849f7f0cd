"""What moves on its own: the Logging tail (reconnects, gap backfill, suppression notices)
and the Firestore listener on the selected date, against the loopback servers."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from conftest import Loopback
from google.cloud.logging_v2.types import TailLogEntriesResponse
from loopback.seed import entry_protos

from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.model import CompletionRecord, LogEntry, PhaseDocument
from orchwatch.sources.base import LogBatch, Sources
from orchwatch.sources.gcp import build_gcp_sources
from orchwatch.sources.gcp.firestore import document_fields
from orchwatch.sources.gcp.logs import CloudLogging

SuppressionReason = TailLogEntriesResponse.SuppressionInfo.Reason

NOW = datetime(2026, 2, 1, 11, 30, tzinfo=UTC)


def entries(n: int, start: datetime, prefix: str, service: str = "self-heal") -> list[LogEntry]:
    return [
        LogEntry(
            timestamp=start + timedelta(seconds=i),
            severity="INFO",
            text=f"{prefix} {i}",
            service=service,
            revision=f"{service}-00001-abc",
            insert_id=f"{prefix}-{i}",
        )
        for i in range(n)
    ]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Reader:
    """Drains a log source the way the log pane's worker does."""

    def __init__(self, logs: CloudLogging) -> None:
        self.logs = logs
        self.cursor: int | None = None
        self.texts: list[str] = []
        self.last: LogBatch | None = None

    def read(self) -> LogBatch:
        batch = self.logs.read_log(self.cursor, 5000)
        self.cursor = batch.cursor
        self.texts += [e.text for e in batch.entries]
        self.last = batch
        return batch

    def until(self, condition: Callable[[], bool], timeout: float = 20.0) -> bool:
        def check() -> bool:
            self.read()
            return condition()

        return wait_until(check, timeout)


def first_read(loopback: Loopback, reader: Reader) -> LogBatch:
    """The pane's first read, then wait until the server's tail stream has taken its
    position, so entries written next reach it (rather than only a backfill)."""
    before = loopback.grpc.tails_ready
    batch = reader.read()
    assert wait_until(lambda: loopback.grpc.tails_ready > before)
    return batch


def tail_one(loopback: Loopback, reader: Reader, project: str) -> None:
    """The first read, then one entry through the open stream."""
    first_read(loopback, reader)
    loopback.grpc.add_entries(entry_protos(entries(1, NOW, "tailed"), project, "r"))
    assert reader.until(lambda: "tailed 0" in reader.texts), reader.texts


def suppress_hidden(loopback: Loopback, project: str, n: int, reason: SuppressionReason) -> None:
    """Write `n` entries the stream suppresses (it reports only their count)."""
    loopback.grpc.suppress_entries(
        entry_protos(entries(n, NOW + timedelta(seconds=10), "hidden"), project, "r"), reason
    )


@pytest.fixture
def tail(
    loopback: Loopback, config: Config, gcp_project: str
) -> Iterator[tuple[CloudLogging, Reader]]:
    gcp_config = loopback.config(config, gcp_project)
    loopback.grpc.add_entries(
        entry_protos(entries(5, NOW - timedelta(minutes=5), "old"), gcp_project, "r")
    )
    sources = build_gcp_sources(gcp_config, gcp_project, FrozenClock(NOW))
    logs = sources.logs
    assert isinstance(logs, CloudLogging)
    yield logs, Reader(logs)
    sources.close()


def test_the_first_read_lists_history_and_the_tail_brings_new_entries(
    loopback: Loopback, tail: tuple[CloudLogging, Reader], gcp_project: str
) -> None:
    _logs, reader = tail
    first = first_read(loopback, reader)
    assert reader.texts == [f"old {i}" for i in range(5)]
    assert first.health == "live"
    loopback.grpc.add_entries(entry_protos(entries(3, NOW, "new"), gcp_project, "r"))
    assert reader.until(lambda: reader.texts[-1:] == ["new 2"]), reader.texts
    assert reader.texts.count("new 0") == 1


def test_an_ended_stream_is_reopened_and_the_gap_backfilled(
    loopback: Loopback, tail: tuple[CloudLogging, Reader], gcp_project: str
) -> None:
    logs, reader = tail
    first_read(loopback, reader)
    opened = loopback.grpc.calls["TailLogEntries"]
    # The stream ends (as it does about hourly); entries written before it is reopened
    # must come through the backfill, once each.
    loopback.grpc.end_tails()
    loopback.grpc.add_entries(entry_protos(entries(4, NOW, "gap"), gcp_project, "r"))
    assert reader.until(lambda: "gap 3" in reader.texts), reader.texts
    # The client opens the new call and backfills without waiting for the server to take
    # it (a quiet log answers late), so the server may count the call after the
    # backfill's entries arrived: wait for it rather than assume the order.
    assert reader.until(lambda: loopback.grpc.calls["TailLogEntries"] > opened)
    assert [t for t in reader.texts if t.startswith("gap")] == [f"gap {i}" for i in range(4)]
    assert reader.last is not None
    seen = logs.read_log(reader.cursor, 10)
    assert seen.health == "gap backfilled"
    assert "backfilled" in seen.notice
    # The session ended with OUT_OF_RANGE, as Cloud Logging ends one: not an error.
    assert not logs.last_error


def test_a_killed_server_is_retried_until_it_is_back(
    loopback: Loopback, tail: tuple[CloudLogging, Reader], gcp_project: str
) -> None:
    logs, reader = tail
    first_read(loopback, reader)
    loopback.grpc.stop()
    try:
        assert reader.until(
            lambda: reader.last is not None and reader.last.health == "reconnecting"
        )
        loopback.grpc.add_entries(entry_protos(entries(2, NOW, "while-down"), gcp_project, "r"))
    finally:
        loopback.grpc.start()
    assert reader.until(lambda: "while-down 1" in reader.texts, timeout=30), logs.last_error
    assert reader.last is not None and reader.last.health in ("gap backfilled", "live")


def test_suppression_notices_reach_the_health_light(
    loopback: Loopback, tail: tuple[CloudLogging, Reader]
) -> None:
    _logs, reader = tail
    first_read(loopback, reader)
    loopback.grpc.suppress(SuppressionReason.RATE_LIMIT, 17)
    assert reader.until(lambda: "17 entries suppressed (rate limit)" in reader.last.notice)  # type: ignore[union-attr]


def test_suppressed_entries_are_listed_once_each(
    loopback: Loopback, tail: tuple[CloudLogging, Reader], gcp_project: str
) -> None:
    _logs, reader = tail
    # Cloud Logging stores entries it suppressed from the stream: the tail lists them.
    tail_one(loopback, reader, gcp_project)
    suppress_hidden(loopback, gcp_project, 4, SuppressionReason.RATE_LIMIT)
    assert reader.until(lambda: "hidden 3" in reader.texts), reader.texts
    assert [t for t in reader.texts if t.startswith("hidden")] == [f"hidden {i}" for i in range(4)]
    assert reader.texts.count("tailed 0") == 1
    assert reader.last is not None
    assert reader.last.notice == (
        "4 entries suppressed (rate limit); listed 4 the stream had not delivered"
    )


def test_a_suppression_backfill_waits_for_the_budget_without_holding_the_stream(
    loopback: Loopback, tail: tuple[CloudLogging, Reader], gcp_project: str
) -> None:
    from orchwatch.sources.gcp.clients import RateLimiter

    logs, reader = tail
    tail_one(loopback, reader, gcp_project)
    minute = [0.0]
    logs.limiter = RateLimiter(1, clock=lambda: minute[0])
    assert logs.limiter.try_acquire()  # the budget is spent
    suppress_hidden(loopback, gcp_project, 3, SuppressionReason.NOT_CONSUMED)
    assert reader.until(lambda: "suppressed" in reader.last.notice), reader.texts  # type: ignore[union-attr]
    assert reader.last is not None
    assert reader.last.notice == (
        "3 entries suppressed (not consumed); listing them when the list budget allows"
    )
    # The stream keeps flowing meanwhile; with budget again, the next response lists them.
    later = entries(1, NOW + timedelta(seconds=20), "later")
    loopback.grpc.add_entries(entry_protos(later, gcp_project, "r"))
    assert reader.until(lambda: "later 0" in reader.texts), reader.texts
    assert not any(t.startswith("hidden") for t in reader.texts)
    minute[0] = 61.0
    nudge = entries(1, NOW + timedelta(seconds=30), "nudge")
    loopback.grpc.add_entries(entry_protos(nudge, gcp_project, "r"))
    assert reader.until(
        lambda: (
            "hidden 2" in reader.texts
            and "nudge 0" in reader.texts
            and "had not delivered" in reader.last.notice
        )  # type: ignore[union-attr]
    ), reader.texts
    assert [t for t in reader.texts if t.startswith("hidden")] == [f"hidden {i}" for i in range(3)]
    assert reader.texts.count("nudge 0") == 1
    assert reader.last is not None
    # The listing is made by whichever comes first, the nudge's response or the pane's
    # next read; a read that comes first lists the nudge too, before the stream brings it.
    assert reader.last.notice in (
        "suppressed entries: listed 3 the stream had not delivered",
        "suppressed entries: listed 4 the stream had not delivered",
    )


def test_the_list_budget_holds_calls_to_six_a_minute() -> None:
    from orchwatch.sources.gcp.clients import RateLimiter

    now = [0.0]
    limiter = RateLimiter(6, clock=lambda: now[0])
    granted = []
    for second in range(0, 180, 2):  # a caller that would list every 2 s for 3 minutes
        now[0] = float(second)
        if limiter.try_acquire():
            granted.append(second)
    assert len(granted) == 18
    for i in range(len(granted) - 6):
        assert granted[i + 6] - granted[i] >= 60  # no 7 calls inside any minute


# --- Firestore: the listener on the selected date -------------------------------------------


@dataclass
class WatchedDay:
    """Google Cloud sources with one phase-3 document written for NOW's date."""

    sources: Sources
    firestore: Any
    ref: Any
    day: date


@pytest.fixture
def watched_day(loopback: Loopback, config: Config, gcp_project: str) -> Iterator[WatchedDay]:
    sources = build_gcp_sources(loopback.config(config, gcp_project), gcp_project, FrozenClock(NOW))
    firestore = sources.completions.firestore  # type: ignore[attr-defined]
    day = NOW.date()
    ref = firestore.clients.firestore().collection("phase3_completion").document(day.isoformat())
    record = CompletionRecord("bdl_boxscores", "success", NOW, 10, "c1", "e1")
    ref.set(document_fields(PhaseDocument("phase3", day, {"bdl_boxscores": record})))
    try:
        yield WatchedDay(sources, firestore, ref, day)
    finally:
        sources.close()


def add_second_record(watched: WatchedDay) -> None:
    second = CompletionRecord("nbac_gamebook", "success", NOW, 12, "c2", "e2")
    watched.ref.update(
        document_fields(PhaseDocument("phase3", watched.day, {"nbac_gamebook": second}))
    )


def test_the_selected_date_is_pushed_by_a_listener(watched_day: WatchedDay) -> None:
    sources, firestore, day = watched_day.sources, watched_day.firestore, watched_day.day
    changed = threading.Event()
    sources.completions.watch_date(day, changed.set)
    assert wait_until(lambda: firestore.watching == day)
    calls = sources.meter.snapshot()  # type: ignore[attr-defined]
    first = firestore.documents([day])[day]["phase3"]
    assert set(first.records) == {"bdl_boxscores"}

    add_second_record(watched_day)
    assert changed.wait(10), "the listener did not report the change"
    latest = firestore.documents([day])[day]["phase3"]
    assert set(latest.records) == {"bdl_boxscores", "nbac_gamebook"}
    reads = sources.meter.snapshot() - calls  # type: ignore[attr-defined]
    assert reads[("firestore", "BatchGetDocuments")] == 0  # served by the listener


def test_a_dead_listener_is_noticed_and_the_date_keeps_updating(watched_day: WatchedDay) -> None:
    sources, firestore, day = watched_day.sources, watched_day.firestore, watched_day.day
    sources.completions.watch_date(day, lambda: None)
    assert wait_until(lambda: firestore.watching == day)
    assert firestore.mode == "listening"
    # What the library does on its own thread when the Listen stream ends with an error
    # it cannot recover from: it closes the watch, and never calls back.
    for watch in list(firestore._watches):
        with contextlib.suppress(RuntimeError):
            watch.close(reason=RuntimeError("Listen stream ended: PERMISSION_DENIED"))
    add_second_record(watched_day)
    calls = sources.meter.snapshot()  # type: ignore[attr-defined]
    latest = firestore.documents([day])[day]["phase3"]  # the next refresh
    assert set(latest.records) == {"bdl_boxscores", "nbac_gamebook"}
    reads = sources.meter.snapshot() - calls  # type: ignore[attr-defined]
    assert reads[("firestore", "BatchGetDocuments")] == 1  # read, not frozen
    assert firestore.resubscribes == 1
    assert wait_until(lambda: firestore.mode == "listening")  # and listening again


def test_the_default_filter_keeps_what_operators_need(
    loopback: Loopback, config: Config, gcp_project: str
) -> None:
    """Request logs and the system log's INFO lines are left out; stdout, stderr,
    application logs, Cloud Functions resources (where CloudLoggingHandler writes, in
    jsonPayload) and the system log's warnings (a crash loop's exits) are kept."""
    from google.api import monitored_resource_pb2
    from loopback.seed import entry_proto

    start = NOW - timedelta(minutes=1)

    def proto(
        n: int, log: str, text: str, service: str = "self-heal", severity: str = "ERROR"
    ) -> object:
        made = entry_proto(
            LogEntry(
                start + timedelta(seconds=n),
                severity,
                text,
                service,
                f"{service}-00001-abc",
                insert_id=f"mix-{n}",
            ),
            gcp_project,
            "us-west2",
        )
        made.log_name = f"projects/{gcp_project}/logs/{log}"
        return made

    function_entry = proto(5, "python", "")
    function_entry.resource = monitored_resource_pb2.MonitoredResource(
        type="cloud_function", labels={"function_name": "self-heal", "region": "us-west2"}
    )
    function_entry.json_payload = {"message": "structured boom"}  # replaces textPayload
    loopback.grpc.add_entries(
        [
            proto(1, "run.googleapis.com%2Fstderr", "stderr line"),
            proto(2, "run.googleapis.com%2Fstdout", "stdout line"),
            proto(3, "run.googleapis.com%2Frequests", "GET /healthz 200"),
            proto(4, "run.googleapis.com%2Fvarlog%2Fsystem", "Container started", severity="INFO"),
            function_entry,
            proto(6, "run.googleapis.com%2Fstderr", "not watched", service="someone-else"),
            proto(
                7,
                "run.googleapis.com%2Fvarlog%2Fsystem",
                "Container called exit(1).",
                severity="WARNING",
            ),
        ]
    )
    gcp_config = loopback.config(config, gcp_project)
    sources = build_gcp_sources(gcp_config, gcp_project, FrozenClock(NOW))
    try:
        texts = [e.text for e in sources.logs.fetch_log(start, None)]  # type: ignore[union-attr]
    finally:
        sources.close()
    # Every service of the project by default, as the demo's stream has: a processor's
    # traceback is half of an incident.
    assert texts == [
        "stderr line",
        "stdout line",
        "structured boom",
        "not watched",
        "Container called exit(1).",
    ]
    # `[gcp] log_scope = "watched"`: the watched services' alone.
    watched = replace(gcp_config, gcp=replace(gcp_config.gcp, log_scope="watched"))
    sources = build_gcp_sources(watched, gcp_project, FrozenClock(NOW))
    try:
        texts = [e.text for e in sources.logs.fetch_log(start, None)]  # type: ignore[union-attr]
    finally:
        sources.close()
    assert "not watched" not in texts and "stderr line" in texts and "structured boom" in texts


def test_a_listing_left_pending_by_the_storms_last_notice_is_made_by_the_next_read(
    loopback: Loopback, tail: tuple[CloudLogging, Reader], gcp_project: str
) -> None:
    """When the budget is spent at a storm's last notice, no further response comes to
    retry the listing: the pane's next read makes it once the budget has room."""
    from orchwatch.sources.gcp.clients import RateLimiter

    logs, reader = tail
    tail_one(loopback, reader, gcp_project)
    minute = [0.0]
    logs.limiter = RateLimiter(1, clock=lambda: minute[0])
    assert logs.limiter.try_acquire()  # the budget is spent
    suppress_hidden(loopback, gcp_project, 3, SuppressionReason.RATE_LIMIT)
    assert reader.until(lambda: "suppressed" in reader.last.notice), reader.texts  # type: ignore[union-attr]
    assert not any(t.startswith("hidden") for t in reader.texts)
    minute[0] = 61.0  # the budget has room again; the stream says nothing more
    assert reader.until(lambda: "hidden 2" in reader.texts), reader.texts
    assert [t for t in reader.texts if t.startswith("hidden")] == [f"hidden {i}" for i in range(3)]


@contextlib.contextmanager
def own_tail(
    loopback: Loopback, config: Config, project: str, per_minute: int, seen: bool = True
) -> Iterator[tuple[CloudLogging, Reader]]:
    """A tail of its own with a list budget of `per_minute`, read once, live (and, with
    `seen`, having received one entry through its stream)."""
    gcp_config = loopback.config(config, project, log_list_calls_per_minute=per_minute)
    sources = build_gcp_sources(gcp_config, project, FrozenClock(NOW))
    logs = sources.logs
    assert isinstance(logs, CloudLogging)
    reader = Reader(logs)
    try:
        if seen:
            loopback.grpc.add_entries(entry_protos(entries(1, NOW, "seen"), project, "r"))
        first_read(loopback, reader)
        if seen:
            assert reader.until(lambda: "seen 0" in reader.texts)
        yield logs, reader
    finally:
        sources.close()


def test_reopened_streams_leave_no_thread_behind(
    loopback: Loopback, config: Config, gcp_project: str
) -> None:
    """Each tail stream's request side runs in a gRPC thread of its own; it ends with its
    stream, so reopening (hourly, on Google's side) leaves the thread count where it was.
    Before, each reopen left one thread waiting for orchwatch to quit."""
    with own_tail(loopback, config, gcp_project, 600, seen=False) as (logs, _):
        baseline = threading.active_count()
        for _ in range(6):
            opened = loopback.grpc.tails_ready
            loopback.grpc.end_tails()
            assert wait_until(lambda opened=opened: loopback.grpc.tails_ready > opened)
        assert logs.reconnects >= 6
        assert wait_until(lambda: threading.active_count() <= baseline), [
            t.name for t in threading.enumerate()
        ]


def test_an_eleventh_tail_is_refused_and_said_while_the_listing_still_reads(
    loopback: Loopback, tail: tuple[CloudLogging, Reader], gcp_project: str
) -> None:
    """Cloud Logging allows ten tail sessions a project: with ten open elsewhere (other
    operators' dashboards), orchwatch's is refused; the pane says so and why, and the
    entries the listing reads still come."""
    logs, reader = tail
    loopback.grpc.max_tails = 0  # the project's ten are taken
    try:
        batch = reader.read()
        assert [t for t in reader.texts] == [f"old {i}" for i in range(5)]
        assert reader.until(lambda: logs.read_log(reader.cursor, 1).health == "reconnecting")
        notice = logs.read_log(reader.cursor, 1).notice
        assert "quota exceeded" in notice and "concurrent tail sessions" in notice, notice
    finally:
        loopback.grpc.max_tails = 10
    assert batch.entries
    # Once a session is free, the tail is live again and new entries flow.
    loopback.grpc.add_entries(entry_protos(entries(1, NOW, "later"), gcp_project, "r"))
    assert reader.until(lambda: "later 0" in reader.texts, timeout=40), reader.texts


def test_empty_pages_that_carry_a_token_are_followed(
    loopback: Loopback, config: Config, gcp_project: str
) -> None:
    """The Logging API may answer an empty page with a next_page_token: it is not the
    end of the listing."""
    gcp_config = loopback.config(config, gcp_project, log_list_calls_per_minute=600)
    written = entries(7, NOW - timedelta(minutes=3), "paged")
    loopback.grpc.add_entries(entry_protos(written, gcp_project, "r"))
    loopback.grpc.max_page_size, loopback.grpc.empty_pages = 3, True
    sources = build_gcp_sources(gcp_config, gcp_project, FrozenClock(NOW))
    try:
        got = sources.logs.fetch_log(NOW - timedelta(minutes=5), None)  # type: ignore[union-attr]
    finally:
        loopback.grpc.max_page_size, loopback.grpc.empty_pages = 1000, False
        sources.close()
    assert [e.text for e in got] == [e.text for e in written]


def test_a_long_gap_is_backfilled_newest_first_within_its_cap_and_says_what_it_left(
    loopback: Loopback, config: Config, gcp_project: str
) -> None:
    """A laptop slept: 4,500 entries were written while no stream was open. The backfill
    keeps the newest 3,000 and says the rest were not read."""
    from orchwatch.sources.gcp.logs import BACKFILL_MAX

    with own_tail(loopback, config, gcp_project, 600) as (logs, reader):
        loopback.grpc.stop()  # asleep: no stream
        gap = entries(4500, NOW + timedelta(seconds=1), "gap")
        loopback.grpc.add_entries(entry_protos(gap, gcp_project, "r"))
        loopback.grpc.start()
        assert reader.until(lambda: "gap 4499" in reader.texts, timeout=40)
        got = [t for t in reader.texts if t.startswith("gap")]
        assert got == [f"gap {i}" for i in range(4500 - BACKFILL_MAX + 1, 4500)] or got == [
            f"gap {i}" for i in range(4500 - BACKFILL_MAX, 4500)
        ]
        notice = logs.read_log(reader.cursor, 1).notice
        assert "not read: the entries between" in notice, notice


def test_the_stream_flows_while_a_backfill_waits_for_the_list_budget(
    loopback: Loopback, config: Config, gcp_project: str
) -> None:
    """With the list budget spent, the gap's listing waits its turn on its own thread; an
    entry written after the stream reopened arrives through the stream meanwhile."""
    with own_tail(loopback, config, gcp_project, 1) as (_, reader):  # the minute's one call
        opened = loopback.grpc.tails_ready
        loopback.grpc.end_tails()
        assert wait_until(lambda: loopback.grpc.tails_ready > opened)
        loopback.grpc.add_entries(entry_protos(entries(1, NOW, "fresh"), gcp_project, "r"))
        assert reader.until(lambda: "fresh 0" in reader.texts, timeout=15), reader.texts


def test_an_entry_that_arrived_late_with_an_earlier_time_is_backfilled_once(
    loopback: Loopback, tail: tuple[CloudLogging, Reader], gcp_project: str
) -> None:
    """Cloud Logging may store an entry after later ones: a backfill from exactly the last
    entry seen would miss it; from a little before, it does not, and nothing comes twice."""
    _, reader = tail
    loopback.grpc.add_entries(entry_protos(entries(1, NOW, "seen"), gcp_project, "r"))
    first_read(loopback, reader)
    assert reader.until(lambda: "seen 0" in reader.texts)
    loopback.grpc.stop()
    late = entries(1, NOW - timedelta(seconds=30), "late")  # written now, stamped earlier
    loopback.grpc.add_entries(entry_protos([*entries(2, NOW, "gap"), *late], gcp_project, "r"))
    loopback.grpc.start()
    assert reader.until(lambda: "late 0" in reader.texts, timeout=40), reader.texts
    assert reader.until(lambda: "gap 1" in reader.texts)
    assert reader.texts.count("seen 0") == 1 and reader.texts.count("old 0") == 1


def test_entries_not_read_stay_said_when_a_reconnect_speaks_after_them(config: Config) -> None:
    """A backfill that left entries out, then a reconnect: the operator still reads what
    was left out (the reconnect's notice used to replace it within the same second)."""
    from orchwatch.sources.gcp import build_gcp_sources

    sources = build_gcp_sources(config, "orchwatch-notice", FrozenClock(NOW))
    try:
        logs = sources.logs
        logs._say(None, "gap backfilled; not read: the entries between 11:00:00 and 11:05:00")  # type: ignore[union-attr]
        logs._say("reconnecting", "Cloud Logging unavailable; retrying in 1 s")  # type: ignore[union-attr]
        notice = logs.notice  # type: ignore[union-attr]
        assert "not read: the entries between 11:00:00 and 11:05:00" in notice
        assert notice.endswith("retrying in 1 s")
    finally:
        sources.close()
