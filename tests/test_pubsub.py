"""The Pub/Sub hop on the demo: what the source reads, how it is judged, and the replay
that brings the dropped completions back (headless; the TUI's is in test_demo_loop)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from orchwatch.actions.audit import AuditLog, read_audit
from orchwatch.actions.manager import RunKey, RunManager
from orchwatch.actions.replay import replay_argv, run_replay
from orchwatch.actions.runner import RunResult
from orchwatch.analysis.completion import reconcile_date
from orchwatch.analysis.pubsub import HopLevel, judge, topics_of, window
from orchwatch.analysis.replay import Method, plan_replay
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.gather import gather_pubsub
from orchwatch.pubsub import Subscription, processor_key
from orchwatch.sources.base import Sources
from orchwatch.sources.demo.events import stored_windows
from orchwatch.sources.demo.logs import CRASH_SERVICE
from orchwatch.sources.demo.simulator import DemoSimulator
from orchwatch.sources.local import LocalStore

FEB1 = date(2026, 2, 1)


def store_of(sources: Sources) -> LocalStore:
    assert isinstance(sources.completions, LocalStore)
    return sources.completions


def test_the_phase3_hop_counts_what_the_stores_and_the_crash_window_say(
    config: Config, demo: Sources
) -> None:
    """Counted independently from the BigQuery rows and the crash window: every phase-3
    message published after the window opened was refused, and none waits."""
    now = demo.clock.now()
    since, until = window(FEB1, config.timezone, now) or (now, now)
    [crash] = [w for w in stored_windows(store_of(demo)) if w.until is None]
    rows = store_of(demo).export_rows("phase_completions")
    phase3 = [
        r
        for r in rows
        if r["phase"] == "phase3"
        and since <= datetime.fromisoformat(str(r["completed_at"])) < until
    ]
    refused = [r for r in phase3 if datetime.fromisoformat(str(r["completed_at"])) >= crash.at]
    assert demo.pubsub is not None
    hop = judge(config, demo.pubsub.read_pubsub(topics_of(config), since, until))[1]
    assert hop.phase == "phase3" and hop.level is HopLevel.FAIL
    assert hop.published == len(phase3)
    assert sum(hop.refused.values()) == len(refused) > 0
    assert hop.dropped == len(refused) and hop.backlog == 0 and hop.dead_lettered == 0
    assert hop.acked == len(phase3) - len(refused)
    assert hop.subscription is not None and hop.subscription.delivers_to(CRASH_SERVICE)
    assert hop.subscription.dead_letter_topic == ""
    assert hop.verdict.startswith("pushes refused 02-01 ")
    assert f"{len(refused)} messages dropped" in hop.verdict
    assert "no dead-letter topic" in hop.verdict
    lost = {r["processor_name"] for r in refused}
    assert {"team_defense_game_summary", "upcoming_player_game_context"} <= lost


def test_a_quiet_hop_is_unknown_not_ok(config: Config, demo: Sources) -> None:
    """Phase 4 never triggered on Feb 1: nothing was published, which is no evidence that
    its hop works."""
    view = gather_pubsub(config, demo, FEB1)
    hop = view.hop("phase4")
    assert hop is not None and hop.level is HopLevel.UNKNOWN
    assert "nothing published" in hop.verdict


def test_the_json_verb_lists_topics_subscriptions_and_counts(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchwatch.cli import main

    code = main(
        [
            "pubsub",
            "--demo",
            "--as-of",
            "2026-02-01T11:30",
            "--date",
            "2026-02-01",
            "--format",
            "json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 1  # phase 3 failed
    hops = {h["phase"]: h for h in out["hops"]}
    phase3 = hops["phase3"]
    assert phase3["topic"] == "nba-phase3-analytics-complete"
    sub = phase3["subscription"]
    assert sub["name"].startswith("eventarc-") and sub["push_endpoint"].startswith("https://")
    assert sub["dead_letter_policy"] is None
    assert sub["retry_policy"] == {"minimum_backoff_s": 10.0, "maximum_backoff_s": 600.0}
    assert sub["message_retention_s"] == 86400 and sub["retain_acked_messages"] is False
    counts = phase3["counts"]
    assert counts["dropped"] == counts["refused"]["remote_server_5xx"] > 0
    assert counts["waiting"] == 0
    assert hops["phase2"]["level"] == "ok"


def test_replay_dry_run_prints_the_two_messages_built_from_the_backup_rows(
    config: Config, capsys: pytest.CaptureFixture[str], demo: Sources
) -> None:
    from orchwatch.cli import main

    code = main(
        [
            "replay",
            "--demo",
            "--as-of",
            "2026-02-01T11:30",
            "--date",
            "2026-02-01",
            "--phase",
            "phase3",
            "--dry-run",
            "--format",
            "json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 1  # the orchestrator still refuses: a replay now is refused
    assert "still refuses" in out["refused"]
    newest: dict[str, dict[str, object]] = {}
    for row in store_of(demo).export_rows("phase_completions"):
        if row["phase"] == "phase3" and row["game_date"] == "2026-02-01":
            name = str(row["processor_name"])
            if name not in newest or str(row["completed_at"]) > str(newest[name]["completed_at"]):
                newest[name] = row
    messages = [json.loads(m["data"]) for m in out["messages"]]
    assert (
        [m["processor_name"] for m in messages]
        == out["processors"]
        == [
            "team_defense_game_summary",
            "upcoming_player_game_context",
        ]
    )
    for message in messages:
        row = newest[message["processor_name"]]
        assert message["execution_id"] == row["execution_id"]
        assert message["correlation_id"] == row["correlation_id"]
        assert message["record_count"] == row["record_count"]
        assert message["status"] == row["status"] == "success"
        assert message["game_date"] == "2026-02-01"
        assert message["phase"] == "phase_3_analytics"
        assert message["output_dataset"] == "nba_analytics"
    assert all(m["attributes"] == {"replayed_by": "orchwatch"} for m in out["messages"])


def fix_the_orchestrator(sources: Sources, clock: FrozenClock) -> None:
    """Deploy the fix through the demo's spool, as `d` does, and let it serve."""
    simulator = sources.live
    assert isinstance(simulator, DemoSimulator)
    (simulator.spool / "fix.json").write_text(json.dumps({"service": CRASH_SERVICE, "ok": True}))
    clock.advance(timedelta(minutes=62))  # 00027 lands, then the fix replaces it
    sources.advance()
    clock.advance(timedelta(minutes=5))
    sources.advance()


def test_after_the_fix_only_a_replay_completes_phase3_and_triggers_phase4(
    config: Config, demo: Sources, clock: FrozenClock, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    fix_the_orchestrator(demo, clock)
    clock.advance(timedelta(hours=3))  # no later run brings the lost completions back
    demo.advance()
    before = reconcile_date(
        config, demo.completions.fetch_completions([FEB1])[FEB1], clock.now()
    ).phase("phase3")
    assert before.firestore_count == 3 and not before.triggered

    view = gather_pubsub(config, demo, FEB1, now_too=True)
    assert view.status.value is not None
    plan = plan_replay(config, view.status.value, "phase3", view.hop("phase3"), view.now)
    assert plan.runnable and plan.method is Method.PUBLISH, plan.refused
    assert "does not keep acknowledged messages" in plan.why
    said: list[str] = []
    manager = RunManager(AuditLog(tmp_path / "audit.jsonl"), timeout=60)

    def job() -> tuple[RunResult, object]:
        outcome = run_replay(plan, config, demo, said.append, watch_for=5)
        return RunResult(0 if outcome.ok else 1, 0.0, outcome.lines), outcome

    done = manager.call(RunKey("replay", "phase3 2026-02-01"), replay_argv(plan), tmp_path, job)
    assert done is not None and done[0].ok, said
    assert said[0].startswith("published 2 messages to nba-phase3-analytics-complete")
    assert "Firestore phase3 2026-02-01: 5/5" in said[1]
    assert said[2] == "phase4 triggered"
    after = reconcile_date(
        config, demo.completions.fetch_completions([FEB1])[FEB1], clock.now()
    ).phase("phase3")
    assert after.firestore_count == 5 and after.triggered
    [entry] = read_audit(tmp_path / "audit.jsonl")[0]
    assert entry.started["action"] == "replay" and entry.outcome == "exit 0"
    assert entry.started["command"] == [
        "orchwatch",
        "replay",
        "--date",
        "2026-02-01",
        "--phase",
        "phase3",
    ]
    # The replay is counted where it went: published, and acknowledged.
    hop = gather_pubsub(config, demo, FEB1).hop("phase3")
    assert hop is not None and hop.acked is not None
    assert not hop.refusing_now


def test_a_replay_while_the_orchestrator_refuses_is_refused_before_anything_is_sent(
    config: Config, demo: Sources
) -> None:
    view = gather_pubsub(config, demo, date(2026, 1, 31), now_too=True)
    assert view.status.value is not None
    plan = plan_replay(config, view.status.value, "phase3", view.hop("phase3"), view.now)
    assert not plan.runnable and "still refuses" in plan.refused
    assert len(plan.messages) == 2  # still shown, so the operator sees what waits


def test_nothing_to_replay_says_why(config: Config, demo: Sources) -> None:
    view = gather_pubsub(config, demo, date(2026, 1, 30))
    assert view.status.value is not None
    plan = plan_replay(config, view.status.value, "phase3", view.hop("phase3"), view.now)
    assert not plan.runnable
    assert plan.refused.startswith("nothing to replay: Firestore has every completion")


def test_a_subscription_that_keeps_acked_messages_is_sought_back_instead(
    config: Config, demo: Sources
) -> None:
    from dataclasses import replace

    fix_the_orchestrator(demo, demo.clock)  # type: ignore[arg-type]
    view = gather_pubsub(config, demo, FEB1)
    hop = view.hop("phase3")
    assert hop is not None and hop.subscription is not None and hop.refused_span is not None
    keeping = replace(hop, subscription=replace(hop.subscription, retain_acked=True))
    assert view.status.value is not None
    plan = plan_replay(config, view.status.value, "phase3", keeping, view.now)
    assert plan.method is Method.SEEK and plan.seek_to == hop.refused_span[0]
    assert "keeps acknowledged messages" in plan.why


@pytest.mark.parametrize(
    ("raw", "table", "expected"),
    [
        ("team_defense_game_summary", None, "team_defense_game_summary"),
        ("PlayerGameSummaryProcessor", "player_game_summary", "player_game_summary"),
        ("AsyncUpcomingPlayerGameContextProcessor", None, "upcoming_player_game_context"),
        ("TeamOffenseGameSummaryProcessor", None, "team_offense_game_summary"),
    ],
)
def test_processor_names_are_normalised_as_the_orchestrator_does(
    raw: str, table: str | None, expected: str
) -> None:
    names = {
        "player_game_summary",
        "team_defense_game_summary",
        "team_offense_game_summary",
        "upcoming_player_game_context",
    }
    assert processor_key(raw, table, names) == expected


@pytest.mark.parametrize(
    ("endpoint", "name", "delivers"),
    [
        ("https://phase3-to-phase4-orchestrator-756957797294.us-west2.run.app/", "s", True),
        ("https://phase3-to-phase4-orchestrator-abc123-wl.a.run.app?x=1", "s", True),
        ("https://phase3-to-phase4-orchestrator2-abc.a.run.app/", "s", False),
        ("", "eventarc-us-west2-phase3-to-phase4-orchestrator-123-sub-456", True),
        ("", "phase3-to-phase4-orchestrator-copy", False),
    ],
)
def test_a_subscription_is_the_orchestrators_by_its_endpoint_or_eventarc_name(
    endpoint: str, name: str, delivers: bool
) -> None:
    sub = Subscription(name=name, topic="t", push_endpoint=endpoint)
    assert sub.delivers_to("phase3-to-phase4-orchestrator") is delivers


def test_the_hop_is_told_step_by_step(config: Config, demo: Sources) -> None:
    """The steps add up to the totals, and the refusals sit after the acknowledgements."""
    hop = gather_pubsub(config, demo, FEB1).hop("phase3")
    assert hop is not None and hop.buckets
    assert sum(b.published for b in hop.buckets) == hop.published
    assert sum(b.acked for b in hop.buckets) == hop.acked
    assert sum(b.refused for b in hop.buckets) == sum(hop.refused.values())
    last_ack = max(b.at for b in hop.buckets if b.acked)
    first_refusal = min(b.at for b in hop.buckets if b.refused)
    assert last_ack < first_refusal


@pytest.mark.parametrize(
    ("values", "width", "line"),
    [
        ([0, 0, 0], 3, "   "),
        ([0, 4, 8], 3, " ▄█"),
        ([1, 0, 0, 8], 2, "▁█"),
        ([], 5, ""),
    ],
)
def test_spark(values: list[int], width: int, line: str) -> None:
    from orchwatch.analysis.pubsub import spark

    assert spark(values, width) == line


def test_a_snapshot_serves_the_pubsub_it_captured_and_says_what_it_does_not_hold(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from orchwatch.cli import main

    out = tmp_path / "incident.db"
    as_of = ["--as-of", "2026-02-01T11:30"]
    assert (
        main(["snapshot", "--demo", *as_of, "--date", "2026-02-01", "--days", "2", "-o", str(out)])
        == 0
    )
    capsys.readouterr()
    verb = ["pubsub", "--date", "2026-02-01", "--format", "json"]
    assert main([*verb, "--demo", *as_of]) == 1
    live = json.loads(capsys.readouterr().out)
    assert main([*verb, "--source", str(out)]) == 1
    assert json.loads(capsys.readouterr().out) == live  # the same hops, offline
    assert main(["pubsub", "--source", str(out), "--date", "2026-01-29"]) == 2
    assert "holds no data for it" in capsys.readouterr().err
    code = main(
        [
            "replay",
            "--source",
            str(out),
            "--date",
            "2026-01-31",
            "--phase",
            "phase3",
            "--allow-actions",
        ]
    )
    assert code == 1  # refused before anything is sent, the messages still shown
    printed = capsys.readouterr().out
    assert "Refused: a snapshot cannot publish" in printed
    assert printed.count('"processor_name"') == 2


def test_a_growing_backlog_is_a_verdict_of_its_own(config: Config) -> None:
    """Refused pushes kept for a retry: the messages wait, the backlog climbs for 20 min."""
    from orchwatch.pubsub import (
        Point,
        PubSubReading,
        PushCount,
        SubscriptionMetrics,
        TopicReading,
    )

    start = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    step = timedelta(minutes=5)
    sub = Subscription(
        name="eventarc-us-west2-phase3-to-phase4-orchestrator-1-sub-1",
        topic="nba-phase3-analytics-complete",
        push_endpoint="https://phase3-to-phase4-orchestrator-1.us-west2.run.app/",
        retry_backoff=(10.0, 600.0),
    )
    trigger = Subscription(name="p4", topic="nba-phase4-trigger", push_endpoint="https://x/")
    backlog = (0, 0, 2, 5, 7, 9)
    reading = PubSubReading(
        start,
        start + step * len(backlog),
        step,
        {
            "nba-phase3-analytics-complete": TopicReading(
                "nba-phase3-analytics-complete",
                True,
                (sub,),
                tuple(Point(start + step * k, 3.0) for k in range(len(backlog))),
            ),
            "nba-phase4-trigger": TopicReading("nba-phase4-trigger", True, (trigger,)),
        },
        {
            sub.name: SubscriptionMetrics(
                pushes=(
                    PushCount(start, "ack", 6),
                    *(PushCount(start + step * k, "remote_server_5xx", 4) for k in range(2, 6)),
                ),
                backlog=tuple(Point(start + step * k, float(n)) for k, n in enumerate(backlog)),
                oldest_unacked=(Point(start + step * 5, 1260.0),),
            )
        },
    )
    hop = judge(config, reading)[1]
    assert hop.level is HopLevel.FAIL
    assert hop.backlog == 9 and hop.dropped == 18 - 6 - 9
    said = "; ".join([hop.verdict, *hop.details])
    assert "9 messages waiting, oldest 21 min" in said
    assert "backlog growing for 20 min" in said  # from 10:05 (0) to 10:25 (9)
    assert hop.refusing_now


def test_cancel_stops_a_job_that_watches_its_stop_event(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import threading

    manager = RunManager(AuditLog(tmp_path / "audit.jsonl"), timeout=60)
    stop = threading.Event()
    started = threading.Event()
    key = RunKey("replay", "phase3 2026-02-01")

    def job() -> tuple[RunResult, object]:
        started.set()
        stopped = stop.wait(30)
        return RunResult(1, 0.0, ("watch cancelled",), cancelled=stopped), None

    done: list[object] = []
    worker = threading.Thread(
        target=lambda: done.append(
            manager.call(key, ["orchwatch", "replay"], tmp_path, job, stop=stop)
        )
    )
    worker.start()
    assert started.wait(10)
    handle = manager.get(key)
    assert handle is not None and handle.cancellable
    assert manager.cancel(key)
    worker.join(10)
    [entry] = read_audit(tmp_path / "audit.jsonl")[0]
    assert entry.outcome == "cancelled"


def test_two_subscriptions_pushing_one_topic_to_the_orchestrator_warn(config: Config) -> None:
    """The runbook's duplicate push subscriptions: every completion delivered twice."""
    from orchwatch.pubsub import Point, PubSubReading, PushCount, SubscriptionMetrics, TopicReading

    start = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    step = timedelta(minutes=5)
    endpoint = "https://phase3-to-phase4-orchestrator-1.us-west2.run.app/"
    subs = tuple(
        Subscription(
            name=f"eventarc-us-west2-phase3-to-phase4-orchestrator-{k}-sub-1",
            topic="nba-phase3-analytics-complete",
            push_endpoint=endpoint,
        )
        for k in (1, 2)
    )
    reading = PubSubReading(
        start,
        start + step,
        step,
        {
            "nba-phase3-analytics-complete": TopicReading(
                "nba-phase3-analytics-complete", True, subs, (Point(start, 4.0),)
            ),
            "nba-phase4-trigger": TopicReading(
                "nba-phase4-trigger",
                True,
                (Subscription(name="p4", topic="nba-phase4-trigger", push_endpoint="https://x/"),),
            ),
        },
        {s.name: SubscriptionMetrics(pushes=(PushCount(start, "ack", 4),)) for s in subs},
    )
    hop = judge(config, reading)[1]
    assert hop.level is HopLevel.WARN
    assert "2 subscriptions push nba-phase3-analytics-complete to phase3-to-phase4" in hop.verdict
    assert "every completion is delivered 2 times" in hop.verdict


def test_no_credentials_is_the_how_to_not_a_wrapped_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The Pub/Sub verbs say the no-credentials how-to, with the roles to read Pub/Sub."""
    from orchwatch.cli import main

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    for argv in (["pubsub"], ["replay", "--phase", "phase3"]):
        code = main(
            [*argv, "--project", "some-proj-123", "--date", "2026-02-01", "--timeout", "30"]
        )
        err = capsys.readouterr().err
        assert code == 2, err
        assert "No Google Cloud credentials were found" in err, err
        assert "roles/pubsub.viewer, roles/monitoring.viewer" in err
