"""The demo scenario tells the story in PIPELINE.md, and moves on with its clock."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from orchwatch.analysis.completion import reconcile_date, trigger_verdict
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.model import CellState
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START, generate_events
from orchwatch.sources.factory import SourceOptions, build_sources


def status_of(demo: Sources, config: Config, day: date):  # type: ignore[no-untyped-def]
    data = demo.completions.fetch_completions([day])[day]
    return reconcile_date(config, data, demo.clock.now())


def test_incident_dates_show_three_of_five_in_firestore(demo: Sources, config: Config) -> None:
    for day in (date(2026, 1, 31), date(2026, 2, 1)):
        phase3 = status_of(demo, config, day).phase("phase3")
        assert (phase3.firestore_count, phase3.bigquery_count) == (3, 5), day
        assert set(phase3.untracked) == {
            "team_defense_game_summary",
            "upcoming_player_game_context",
        }
        assert not phase3.triggered
        assert trigger_verdict(phase3, demo.clock.now(), config.timezone)[0]


def test_healthy_date_is_all_complete_with_once_daily_runs(demo: Sources, config: Config) -> None:
    status = status_of(demo, config, date(2026, 1, 28))
    for phase in status.phases:
        assert {c.state for c in phase.cells} == {CellState.COMPLETE}, phase.phase
        assert phase.triggered or phase.next_phase is None
    team = next(
        c for c in status.phase("phase3").cells if c.processor == "upcoming_team_game_context"
    )
    player = next(c for c in status.phase("phase3").cells if c.processor == "player_game_summary")
    assert team.backup is not None and team.backup.runs == 2
    assert player.backup is not None and player.backup.runs == 208


def test_one_date_has_a_real_failure_in_the_queue(demo: Sources, config: Config) -> None:
    day = date(2026, 1, 24)
    cell = next(
        c
        for c in status_of(demo, config, day).phase("phase2").cells
        if c.processor == "p2_bdl_box_scores"
    )
    assert cell.state is CellState.FAILED
    queue = demo.completions.fetch_failed_queue(day)
    assert [(q.processor_name, q.status) for q in queue] == [("p2_bdl_box_scores", "pending")]
    assert "0022500644" in queue[0].error_message


def test_simulator_writes_new_completions_as_the_clock_moves(demo: Sources, config: Config) -> None:
    assert isinstance(demo.clock, FrozenClock)
    day = date(2026, 2, 1)
    before = status_of(demo, config, day).phase("phase3").cells[0].backup
    demo.clock.advance(timedelta(minutes=30))
    demo.advance()
    after = status_of(demo, config, day).phase("phase3").cells[0].backup
    assert before is not None and after is not None
    assert after.runs > before.runs
    # ...while the incident persists
    assert status_of(demo, config, day).phase("phase3").firestore_count == 3


def test_phase4_turns_missing_once_due(demo: Sources, config: Config) -> None:
    day = date(2026, 2, 1)
    assert {c.state for c in status_of(demo, config, day).phase("phase4").cells} == {
        CellState.NOT_DUE
    }
    assert isinstance(demo.clock, FrozenClock)
    demo.clock.advance(timedelta(hours=3, minutes=31))  # 06:30 -> past 10:00 New York
    assert {c.state for c in status_of(demo, config, day).phase("phase4").cells} == {
        CellState.MISSING
    }


def test_scenario_is_deterministic_for_a_seed(config: Config) -> None:
    first = generate_events(config, 7)
    assert first == generate_events(config, 7)
    assert first != generate_events(config, 8)


def snapshot_of(sources: Sources, config: Config) -> tuple[object, ...]:
    days = [date(2026, 1, 24), date(2026, 1, 31), date(2026, 2, 1)]
    completions = sources.completions.fetch_completions(days)
    services = sources.revisions.fetch_services(list(config.services))  # type: ignore[union-attr]
    logs = sources.logs.read_log(None, 100_000)  # type: ignore[union-attr]
    return completions, services, [(e.timestamp, e.text, e.insert_id) for e in logs.entries]


def test_cached_scenario_equals_a_fresh_build_and_moves_on(config: Config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from orchwatch.sources.demo import DEMO_START, build_demo
    from orchwatch.sources.factory import SourceOptions, build_sources

    def build(cache: bool) -> Sources:
        if not cache:
            store, sim = build_demo(config, FrozenClock(DEMO_START))
            return Sources("demo", "d", sim.clock, store, revisions=store, logs=store, live=sim)
        return build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))

    fresh = build(cache=False)
    first = build(cache=True)  # writes the cache (or reads the session's)
    second = build(cache=True)  # reads it
    assert snapshot_of(first, config) == snapshot_of(fresh, config) == snapshot_of(second, config)
    for sources in (fresh, second):
        assert isinstance(sources.clock, FrozenClock)
        sources.clock.advance(timedelta(minutes=30))
        sources.advance()
    assert snapshot_of(second, config) == snapshot_of(fresh, config)


def test_a_corrupt_cache_is_rebuilt(config: Config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from orchwatch.sources.demo import DEMO_START, build_demo

    clock = FrozenClock(DEMO_START)
    build_demo(config, clock, cache_dir=tmp_path)
    for path in tmp_path.iterdir():
        path.write_bytes(b"garbage")
    store, _ = build_demo(config, FrozenClock(DEMO_START), cache_dir=tmp_path)
    phase3 = store.fetch_completions([date(2026, 2, 1)])[date(2026, 2, 1)].firestore["phase3"]
    assert len(phase3.records) == 3


def test_a_user_deploy_supersedes_the_scenarios_scheduled_revision(config: Config) -> None:
    import json

    from orchwatch.sources.demo import DEMO_START, build_demo
    from orchwatch.sources.demo.logs import CRASH_SERVICE

    clock = FrozenClock(DEMO_START)
    store, simulator = build_demo(config, clock)
    (simulator.spool / "request.json").write_text(
        json.dumps({"service": CRASH_SERVICE, "ok": True})
    )
    simulator.advance()  # before the scenario's own 00027 (04:28 Pacific)
    clock.advance(timedelta(hours=3))
    simulator.advance()
    [state] = store.fetch_services([CRASH_SERVICE])
    names = [r.name for r in state.revisions]
    assert state.traffic[0].revision == names[0]
    assert names[0].startswith(f"{CRASH_SERVICE}-00027-")
    assert sum(1 for n in names if "-00027-" in n) == 1  # the scheduled 00027 never lands
    assert state.revisions[0].labels.get("orchwatch-demo-fix") == "true"


# --- one story: what the logs say, the stores hold -------------------------------------------

_RECORDED = __import__("re").compile(
    r"^Recorded completion of (\S+) for (\S+): (\d+)/(\d+) processors complete$"
)


@pytest.mark.parametrize("hours", [0, 1.5, 4])
def test_the_tail_never_says_what_the_stores_contradict(config: Config, hours: float) -> None:
    """Each orchestrator line claims a Firestore count: it is what Firestore holds for the
    date, a lost completion has no such line, and a phase is triggered only after every
    required processor completed."""
    from orchwatch.sources.demo import UNTRACKED

    moment = DEMO_START + timedelta(hours=hours)
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(moment))
    try:
        assert sources.logs is not None
        claims = [
            (e, m)
            for e in sources.logs.fetch_log(moment - timedelta(hours=2), None)
            if (m := _RECORDED.match(e.text))
        ]
        assert claims  # the orchestrators log what they record
        dates = sorted({date.fromisoformat(m[2]) for _, m in claims})
        stored = sources.completions.fetch_completions(dates)
        phases = {p.orchestrator: p for p in config.phases}
        for entry, match in claims:
            processor, day = match[1], date.fromisoformat(match[2])
            phase = phases[entry.service]
            document = stored[day].firestore[phase.name]
            assert processor in document.records, entry.text  # it is in Firestore
            assert int(match[3]) <= len(document.records), entry.text  # never more than held
            assert int(match[4]) == len(phase.processors)
            assert processor not in UNTRACKED.get(day, {}).get(phase.name, ()), entry.text
        for day in dates:
            for phase in config.phases:
                document = stored[day].firestore.get(phase.name)
                if document is None or not document.triggered or document.triggered_at is None:
                    continue
                backup = stored[day].bigquery.get(phase.name, {})
                for spec in phase.processors:
                    if spec.required:
                        first = backup[spec.name].first_completed_at
                        assert first is not None and first <= document.triggered_at
    finally:
        sources.close()


_CRASH_GAP = timedelta(minutes=5)
"""Exits of a crash loop further apart than this are two stretches (its instances exit
every two minutes or so while it loops)."""


@pytest.mark.parametrize("hours", [0, 1.5, 4])
def test_no_completion_is_recorded_while_its_orchestrator_crash_loops(
    config: Config, hours: float
) -> None:
    """A Firestore record is the orchestrator answering a completion message: none falls
    inside a stretch of its orchestrator's exits as the logs show them (the messages that
    arrived then were lost), and records resume in the healthy stretch between two."""
    moment = DEMO_START + timedelta(hours=hours)
    since = moment - timedelta(hours=2)
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(moment))
    try:
        assert sources.logs is not None
        exits: dict[str, list[datetime]] = {}
        for entry in sources.logs.fetch_log(since, None):
            if entry.text == "Container called exit(1).":
                exits.setdefault(entry.service, []).append(entry.timestamp)
        assert exits.get("phase3-to-phase4-orchestrator"), "the story's crash loop is in the logs"
        days = sorted(
            {(since + timedelta(hours=h)).astimezone(config.timezone).date() for h in range(0, 3)}
        )
        stored = sources.completions.fetch_completions(days)
        checked = 0
        for phase in config.phases:
            times = sorted(exits.get(phase.orchestrator or "", []))
            for day in days:
                document = stored[day].firestore.get(phase.name)
                for record in document.records.values() if document else ():
                    at = record.completed_at
                    if not times or at <= since or at < times[0]:
                        continue
                    before = [t for t in times if t <= at]
                    after = [t for t in times if t >= at]
                    looping = bool(before and after) and (
                        at - before[-1] <= _CRASH_GAP and after[0] - at <= _CRASH_GAP
                    )
                    assert not looping, (phase.orchestrator, record.processor, at)
                    checked += 1
        if hours == 0:  # the Feb 1 records were made between the two windows
            assert checked >= 3
    finally:
        sources.close()


# --- the cache: data, not code, and shared safely ---------------------------------------------


def test_the_cache_keeps_every_event_as_data(config: Config) -> None:
    import json

    from orchwatch.sources.demo.cache import decode, encode

    events = generate_events(config, config.demo_seed)
    kept = json.loads(json.dumps(encode(tuple(events))))
    assert list(decode(kept)) == events  # every kind of event, whole


def test_a_cache_naming_any_other_type_is_foreign_and_rebuilt(
    config: Config,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    import json
    import subprocess

    from orchwatch.sources.demo import build_demo

    build_demo(config, FrozenClock(DEMO_START), cache_dir=tmp_path)
    [events] = tmp_path.glob("*.events.json")
    ran: list[object] = []
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: ran.append(a))
    hostile = {"$tuple": [{"$record": "Popen", "fields": {"args": "touch /tmp/owned"}}]}
    events.write_text(json.dumps(hostile))
    store, _ = build_demo(config, FrozenClock(DEMO_START), cache_dir=tmp_path)
    phase3 = store.fetch_completions([date(2026, 2, 1)])[date(2026, 2, 1)].firestore["phase3"]
    assert len(phase3.records) == 3  # built afresh
    assert ran == []
    assert "Popen" not in events.read_text()  # and written again, whole


def test_five_demos_starting_at_once_on_an_empty_cache_all_reach_their_first_frame(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "ORCHWATCH_CACHE_DIR": str(tmp_path / "cache")}
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "orchwatch", "--demo", "--exit-after-first-data"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(5)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read().decode()) for p in starts]  # type: ignore[union-attr]
    for p in starts:
        p.stdout.close()  # type: ignore[union-attr]
        p.stderr.close()  # type: ignore[union-attr]
    assert [code for code, _ in outcomes] == [0] * 5, outcomes
    left = sorted(path.name for path in (tmp_path / "cache" / "demo").iterdir())
    assert not [name for name in left if name.endswith(".partial")], left
    assert sum(name.endswith(".events.json") for name in left) == 1
