"""`--as-of` is one clock for every source: a replay of the demo to any moment shows
nothing after it, and the story it tells keeps its order (no service logs an error from a
revision before that revision exists; a timeline's effect never precedes its cause)."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from orchwatch.analysis.explain import explain, explanation_json
from orchwatch.analysis.timeline import timeline, timeline_json
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.gather import (
    gather_daily,
    gather_errors,
    gather_explain,
    gather_revisions,
    gather_timeline,
)
from orchwatch.render import errors_json
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources

DAY = date(2026, 2, 1)
DAY_START = datetime(2026, 2, 1, 5, tzinfo=UTC)  # midnight in New York
SAMPLED = sorted(
    DAY_START + timedelta(minutes=m) for m in random.Random(23).sample(range(24 * 60), 50)
)


def _times(document: object, keys: tuple[str, ...]) -> list[datetime]:
    """Every time under one of `keys`, anywhere in a JSON document."""
    found: list[datetime] = []
    pending = [document]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in keys and isinstance(value, str):
                    found.append(datetime.fromisoformat(value))
                else:
                    pending.append(value)
        elif isinstance(node, list):
            pending.extend(node)
    return found


@pytest.mark.parametrize("moment", SAMPLED, ids=[f"{m:%H:%M}" for m in SAMPLED])
def test_nothing_after_the_moment_and_no_effect_before_its_cause(
    moment: datetime, config: Config, tmp_path: Path
) -> None:
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(moment))
    try:
        zone = config.shown_zone
        # logs: none after the moment, none older than the revision that wrote it
        assert sources.logs is not None and sources.revisions is not None
        entries = sources.logs.fetch_log(moment - timedelta(hours=3), None)
        assert entries and max(e.timestamp for e in entries) <= moment
        created = {
            r.name: r.create_time
            for state in sources.revisions.fetch_services(list(config.services))
            for r in state.revisions
        }
        assert created and max(created.values()) <= moment  # revisions: none after it
        early = [e for e in entries if e.revision in created and e.timestamp < created[e.revision]]
        assert early == [], early[:3]
        # errors
        groups = errors_json(gather_errors(config, sources, timedelta(hours=2)))
        assert (
            max(_times(json.loads(groups), ("first_seen", "last_seen")), default=moment) <= moment
        )
        # revisions
        view = gather_revisions(config, sources)
        assert view.now == moment
        # timeline (with an audit record started after the moment: not shown)
        audit = tmp_path / "audit.jsonl"
        later = (moment + timedelta(minutes=1)).isoformat()
        audit.write_text(
            json.dumps({"event": "started", "id": "r", "time": later, "command": ["x"]}) + "\n"
        )
        line = timeline(gather_timeline(config, sources, DAY, audit), zone)
        events = _times(timeline_json(line), ("at",))
        assert events and max(events) <= moment
        # explain: phase 3's chain and the crash-looping orchestrator's
        inputs = gather_explain(config, sources, DAY)
        for subject in ({"phase": "phase3"}, {"service": "phase3-to-phase4-orchestrator"}):
            links = explanation_json(explain(inputs, zone, **subject))
            assert max(_times(links, ("at",)), default=moment) <= moment
        # daily: what it judged was read by the moment
        daily = gather_daily(config, sources, DAY)
        if daily.completions.value is not None:
            completed = [
                record.completed_at
                for phase in daily.completions.value.phases
                for cell in phase.cells
                if cell.firestore is not None and (record := cell.firestore).completed_at
            ]
            assert max(completed, default=moment) <= moment
        assert max((g.last_seen for g in daily.error_groups.value or []), default=moment) <= moment
    finally:
        sources.close()


@pytest.mark.parametrize("hours", [1, 3.5, 6])
def test_a_replay_holds_what_the_live_demo_wrote_by_then(config: Config, hours: float) -> None:
    """The live demo moved on minute by minute and a replay to the same moment build the
    same logs, revisions and completions."""
    clock = FrozenClock(DEMO_START)
    live = build_sources(SourceOptions(demo=True), config, clock=clock)
    end = DEMO_START + timedelta(hours=hours)
    while clock.now() < end:
        clock.advance(timedelta(minutes=7))
        live.advance()
    replay = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(clock.now()))
    try:
        since = clock.now() - timedelta(hours=3)
        assert live.logs is not None and replay.logs is not None
        assert live.logs.fetch_log(since, None) == replay.logs.fetch_log(since, None)
        assert live.revisions is not None and replay.revisions is not None
        names = list(config.services)
        assert live.revisions.fetch_services(names) == replay.revisions.fetch_services(names)
        dates = [DAY - timedelta(days=1), DAY]
        assert live.completions.fetch_completions(dates) == replay.completions.fetch_completions(
            dates
        )
    finally:
        live.close()
        replay.close()


def test_a_snapshot_read_as_of_an_earlier_moment_shows_no_later_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchwatch.cli import main

    store = tmp_path / "s.db"
    assert main(["snapshot", "--demo", "-o", str(store)]) == 0  # captured at the demo's start
    capsys.readouterr()
    earlier = DEMO_START - timedelta(minutes=45)
    assert main(["--as-of", earlier.isoformat(), "errors", "--source", str(store), "--since",
                 "3h", "--format", "json"]) == 0  # fmt: skip
    seen = _times(json.loads(capsys.readouterr().out), ("first_seen", "last_seen"))
    assert seen and max(seen) <= earlier


async def test_a_replay_says_so_in_the_logs_light(config: Config) -> None:
    """A frozen moment is not a live stream: the logs light says "replay"."""
    from tui_helpers import SIZE, make_app, settle, wait_for

    from orchwatch.sources.factory import read_as_of

    moment = DEMO_START + timedelta(hours=1)
    sources = read_as_of(build_sources(SourceOptions(demo=True), config, clock=FrozenClock(moment)))
    app = make_app(config, sources)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = app.query_one("#logs-status")
        assert await wait_for(pilot, lambda: "replay" in str(status.render()))
        assert "◆ replay" in str(status.render()) and "live" not in str(status.render())


async def test_the_groups_table_says_what_a_group_is_new_since(config: Config) -> None:
    """auto-backfill's 00017 deploys at 09:30 New York and crash-loops on an ImportError:
    its group is new since 00017, in the table, not only behind Enter."""
    from textual.widgets import DataTable
    from tui_helpers import make_app, settle, wait_for

    from orchwatch.sources.factory import read_as_of
    from orchwatch.tui.widgets.logs import ErrorGroupTable

    moment = datetime(2026, 2, 1, 15, tzinfo=UTC)
    sources = read_as_of(build_sources(SourceOptions(demo=True), config, clock=FrozenClock(moment)))
    app = make_app(config, sources)
    async with app.run_test(size=(200, 55)) as pilot:
        await settle(pilot)
        table = app.query_one(ErrorGroupTable)

        def import_error_row() -> list[str]:
            for key in table.rows:
                row = [str(cell) for cell in table.get_row(key)]
                if any("ImportError" in cell for cell in row):
                    return row
            return []

        assert await wait_for(pilot, lambda: bool(import_error_row()))
        assert isinstance(table, DataTable)
        assert "00017" in import_error_row()
