"""Game date vs processing date: a phase keyed by its processing date (the runbook's
PROCESSING_DATE, the day after the games) is read from the store's next day, and is due on
that day.

The store here is the demo's with phase 3 re-keyed as the runbook describes it: its
Firestore documents, BigQuery rows and execution-log rows moved to the next day. Read with
`keyed_by = "processing_date"` it gives the demo's grid; read as if keyed by game date it
gives the wrong answer orchwatch gave before (phase 3 missing on the game date).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from orchwatch.clock import FrozenClock
from orchwatch.config import Config, PhaseSpec, ProcessorSpec
from orchwatch.gather import read_status
from orchwatch.model import CellState, DateStatus
from orchwatch.snapshot import capture, summary_rows
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START, FIRST_DATE
from orchwatch.sources.factory import SourceOptions, build_sources
from orchwatch.sources.local import LocalStore

REKEYED = "phase3"
DAYS = [FIRST_DATE + timedelta(days=k) for k in range(8, 13)]
LATER = DEMO_START + timedelta(days=4)
"""A moment when every date above is due on either keying."""


def keyed(config: Config, phase: str = REKEYED) -> Config:
    """`config` with `phase` keyed by its processing date."""
    phases = tuple(replace(p, date_offset=1) if p.name == phase else p for p in config.phases)
    return replace(config, phases=phases)


@pytest.fixture
def rekeyed_store(demo: Sources, tmp_path: Path) -> Path:
    """The demo's records of DAYS, phase 3's moved to the next day."""
    path = tmp_path / "rekeyed.db"
    store = LocalStore(path)
    found = demo.completions.fetch_completions(DAYS)
    for day, completions in found.items():
        for phase, document in completions.firestore.items():
            moved = day + timedelta(days=1) if phase == REKEYED else day
            store.put_document(replace(document, game_date=moved))
        for phase, by_processor in completions.bigquery.items():
            moved = day + timedelta(days=1) if phase == REKEYED else day
            for summary in by_processor.values():
                store.insert_backup_rows(summary_rows(phase, moved, summary))
        rows = demo.completions.fetch_execution_log(day)
        store.insert_execution_log(
            replace(r, game_date=day + timedelta(days=1))
            if r.phase_name.startswith(f"{REKEYED}_to_")
            else r
            for r in rows
        )
    store.set_meta("captured_at", LATER.isoformat())
    store.close()
    return path


def states(status: DateStatus) -> list[tuple[str, str, CellState]]:
    return [(c.phase, c.processor, c.state) for p in status.phases for c in p.cells]


def test_a_processing_keyed_phase_is_read_from_the_next_day(
    config: Config, demo: Sources, rekeyed_store: Path
) -> None:
    sources = build_sources(SourceOptions(store_path=rekeyed_store), keyed(config))
    wrong = build_sources(SourceOptions(store_path=rekeyed_store), config)
    try:
        for day in DAYS:
            want = read_status(config, demo, day, LATER)
            got = read_status(keyed(config), sources, day, LATER)
            assert states(got) == states(want), day
        # Keyed by the game date, the same store shows phase 3 missing on the first game
        # date (its records are on the next day), as orchwatch said before.
        before = read_status(config, wrong, DAYS[0], LATER).phase(REKEYED)
        assert {c.state for c in before.cells if c.required} == {CellState.MISSING}
        shown = read_status(config, demo, DAYS[0], LATER).phase(REKEYED)
        assert {c.state for c in shown.cells if c.required} == {CellState.COMPLETE}
        # The transition out of phase 3 is on the next day's execution log.
        rows = sources.completions.fetch_execution_log(DAYS[0])
        want_rows = demo.completions.fetch_execution_log(DAYS[0])
        assert sorted(r.phase_name for r in rows) == sorted(r.phase_name for r in want_rows)
    finally:
        sources.close()
        wrong.close()


def test_a_processing_keyed_phase_is_due_on_the_processing_date(config: Config) -> None:
    """Box scores arrive after midnight: phase 2 due at 08:00 is due at 08:00 the day after
    the games, not on the game date."""
    from orchwatch.analysis.completion import reconcile_date
    from orchwatch.model import DateCompletions

    game_date = date(2026, 2, 3)
    phase = PhaseSpec(
        "phase2",
        "Raw",
        "phase2_completion",
        None,
        None,
        (ProcessorSpec("p2_bdl_box_scores", True, "continuous", timedelta(hours=8)),),
    )
    evening = datetime.combine(game_date, time(9), tzinfo=config.timezone)
    morning_after = evening + timedelta(days=1)
    for offset, now, state in [
        (0, evening, CellState.MISSING),
        (1, evening, CellState.NOT_DUE),
        (1, morning_after, CellState.MISSING),
    ]:
        cfg = replace(config, phases=(replace(phase, date_offset=offset),))
        [cell] = reconcile_date(cfg, DateCompletions(game_date), now).phases[0].cells
        assert cell.state is state, (offset, now)
        assert cell.due_at.date() == game_date + timedelta(days=offset)


def test_a_snapshot_keeps_a_processing_keyed_phase_where_the_store_keeps_it(
    config: Config, rekeyed_store: Path, tmp_path: Path
) -> None:
    """Taken and reopened with the same keying, a snapshot reads as its source did (its
    BigQuery rows are written under the processing date, not moved to the game date)."""
    cfg = keyed(config)
    sources = build_sources(SourceOptions(store_path=rekeyed_store), cfg)
    out = tmp_path / "snapshot.db"
    try:
        capture(cfg, sources, DAYS, out)
        again = build_sources(SourceOptions(store_path=out), cfg, clock=FrozenClock(LATER))
        try:
            for day in DAYS:
                want = read_status(cfg, sources, day, LATER)
                assert states(read_status(cfg, again, day, LATER)) == states(want), day
        finally:
            again.close()
    finally:
        sources.close()


def test_keyed_by_is_read_from_the_config() -> None:
    from orchwatch.config import ConfigError, parse_config

    text = (
        '[pipeline]\nname = "p"\n[[phases]]\nname = "phase3"\nkeyed_by = "processing_date"\n'
        '[[phases.processors]]\nname = "a"\n'
    )
    assert parse_config(text, None).phase("phase3").date_offset == 1
    with pytest.raises(ConfigError, match="phases"):
        parse_config(text.replace('"processing_date"', '"tomorrow"'), None)


def test_the_store_still_says_what_it_says_of_itself(config: Config, demo: Sources) -> None:
    """The completions pane reads a store's own notes (Google Cloud's cost line) through
    the wrapper."""
    from orchwatch.sources.keyed import KeyedCompletions

    store = demo.completions
    store.notes = ["BigQuery phase_completions unpartitioned: 1.2 GB a read"]  # type: ignore[attr-defined]
    try:
        wrapped = KeyedCompletions(store, keyed(config).phases)
        assert wrapped.notes == store.notes  # type: ignore[attr-defined]
    finally:
        del store.notes  # type: ignore[attr-defined]
