"""The shipped example that models the pipeline as the May 2026 runbook describes it
(`orchwatch/examples/validate-daily-2026-05.toml`), on a store seeded to match it: a
healthy game date passes every check the store can answer, and a date with the Feb
incident's causes (phase 3's orchestrator recorded 3 of 5 completions, all 5 in BigQuery,
and never triggered phase 4) fails for them only.

The fixture writes what the runbook's queries read: completion documents and their
BigQuery backup keyed as the runbook keys them (phase 3 under the processing date D+1),
the execution log in its words (`complete`), a retry loop broken by `failed_permanent`,
the schedule, the analytics tables and the scrapers' tables the data checks count.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from orchwatch.analysis.daily import CheckResult, CheckStatus, evaluate, overall
from orchwatch.clock import FrozenClock
from orchwatch.config import Config, load_config
from orchwatch.gather import gather_daily
from orchwatch.model import (
    BackupRow,
    CompletionRecord,
    Condition,
    ConditionState,
    ExecutionLogRow,
    FailedQueueItem,
    LogEntry,
    Revision,
    TrafficStatus,
)
from orchwatch.sources.base import Sources
from orchwatch.sources.keyed import keyed
from orchwatch.sources.local import LocalStore

MAY = Path(__file__).parents[1] / "orchwatch" / "examples" / "validate-daily-2026-05.toml"
HEALTHY, INCIDENT = date(2026, 5, 11), date(2026, 5, 12)
FLAWED = date(2026, 5, 9)
"""A date whose data tables hold what each data check exists to find."""
NEW_YORK = ZoneInfo("America/New_York")
NOW = datetime.combine(INCIDENT + timedelta(days=1), time(12, 0), tzinfo=NEW_YORK)
"""Noon the day after the incident's games: everything of both dates is due."""
GAMES = [("MIA", "PHI"), ("BOS", "NYK"), ("LAL", "DEN")]


@pytest.fixture(scope="module")
def may() -> Config:
    return load_config(MAY)


def at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=NEW_YORK).astimezone(UTC)


def seed_completions(store: LocalStore, config: Config, day: date, untracked: int = 0) -> None:
    """Every phase of game date `day` complete, each document where the runbook keeps it;
    phase 3's orchestrator leaves `untracked` of its processors out of Firestore and does
    not trigger when it does."""
    for spec in config.phases:
        keyed = spec.keyed_date(day)
        done = at(keyed, 5)
        names = [p.name for p in spec.processors]
        tracked = names[: len(names) - untracked] if spec.name == "phase3" else names
        store.record_firestore(
            (spec.name, keyed, CompletionRecord(name, "success", done, 120, f"c-{day}"))
            for name in tracked
        )
        store.insert_backup_rows(
            BackupRow(spec.name, keyed, name, "success", done, 120, f"c-{day}") for name in names
        )
        if spec.orchestrator and spec.next_phase and len(tracked) == len(names):
            store.mark_triggered(spec.name, keyed, done + timedelta(minutes=2), "all_complete", "")
            store.insert_execution_log(
                [
                    ExecutionLogRow(
                        done + timedelta(minutes=2),
                        f"{spec.name}_to_{spec.next_phase}",
                        keyed,
                        f"c-{day}",
                        4.2,
                        len(GAMES),
                        "complete",
                    )
                ]
            )
    # A retry loop the runbook's fix broke: handled, nothing to do.
    store.upsert_failed_queue(
        FailedQueueItem(day, "p2_odds_game_lines", "failed_permanent", 5, "HTTP 400", None, None)
    )


TABLES: dict[str, list[tuple[str, str]]] = {
    "nba_reference.nba_schedule": [
        ("game_id", "STRING"),
        ("game_date", "DATE"),
        ("game_status", "INT64"),
        ("home_team_tricode", "STRING"),
        ("away_team_tricode", "STRING"),
    ],
    "nba_analytics.player_game_summary": [
        ("game_date", "DATE"),
        ("team_abbr", "STRING"),
        ("player_lookup", "STRING"),
        ("minutes_played", "FLOAT64"),
        ("usage_rate", "FLOAT64"),
        ("is_dnp", "BOOL"),
    ],
    "nba_analytics.team_offense_game_summary": [
        ("game_date", "DATE"),
        ("team_abbr", "STRING"),
        ("fg_attempts", "INT64"),
    ],
    "nba_raw.nbac_player_movement": [("transaction_date", "DATE")],
    "nba_raw.nbac_injury_report": [("report_date", "DATE")],
    "nba_raw.nbac_roster": [("roster_date", "DATE")],
    "nba_raw.bdl_injuries": [("scrape_date", "DATE")],
    "nba_predictions.player_prop_predictions": [
        ("game_date", "DATE"),
        ("game_id", "STRING"),
        ("player_lookup", "STRING"),
        ("is_active", "BOOL"),
    ],
}
"""The tables the runbook's data checks read, as BigQuery types them."""
SQLITE_TYPES = {
    "STRING": "TEXT",
    "DATE": "TEXT",
    "INT64": "INTEGER",
    "FLOAT64": "REAL",
    "BOOL": "BOOLEAN",
}


def table_rows(day: date, flawed: bool = False) -> dict[str, list[tuple[object, ...]]]:
    """The schedule (three final games), their analytics and team stats, fresh scrapers
    and active predictions. `flawed`: what the runbook's checks exist to find: a game
    without analytics, a team without stats and one with two rows, players without
    minutes, a scraper two weeks stale, a game without active predictions."""
    d = day.isoformat()
    games = GAMES if not flawed else [*GAMES, ("GSW", "SAC")]
    teams = [team for game in GAMES for team in game]
    rows: dict[str, list[tuple[object, ...]]] = {
        "nba_reference.nba_schedule": [
            (f"{day:%Y%m%d}{k}", d, 3, home, away) for k, (away, home) in enumerate(games)
        ],
        "nba_analytics.player_game_summary": [
            (d, team, f"{team.lower()}-{n}", (0.0 if flawed and n < 2 else 30.0 - n), 18.5, n == 9)
            for team in teams
            for n in range(10)
        ],
        "nba_analytics.team_offense_game_summary": [
            (d, team, 88) for team in teams if not (flawed and team == "DEN")
        ]
        + ([(d, "MIA", 91)] if flawed else []),
        "nba_predictions.player_prop_predictions": [
            (d, f"{day:%Y%m%d}{k}", f"p{n}", n < 8 and not (flawed and k == 1))
            for k in range(len(games))
            for n in range(10)
        ],
    }
    stale = (day - timedelta(days=14)).isoformat() if flawed else d
    for table, _ in SCRAPERS:
        rows[f"nba_raw.{table}"] = [(stale if table == "nbac_roster" else d,)]
    return rows


def seed_tables(store: LocalStore, day: date, flawed: bool = False) -> None:
    """The date's rows of `TABLES` in the store."""
    for table, rows in table_rows(day, flawed).items():
        marks = ", ".join("?" * len(TABLES[table]))
        store.execute(f"INSERT INTO {table} VALUES ({marks})", rows)


SCRAPERS = [
    ("nbac_player_movement", "transaction_date"),
    ("nbac_injury_report", "report_date"),
    ("nbac_roster", "roster_date"),
    ("bdl_injuries", "scrape_date"),
]


def seed_platform(store: LocalStore, config: Config) -> None:
    """Each watched service serving its one Ready revision, and an hour of quiet logs from
    each (so the orchestrators can be judged: a log that covers nothing is unknown)."""
    for service in config.services:
        name = f"{service}-00007-abc"
        created = NOW - timedelta(days=3)
        ready = Condition("Ready", ConditionState.SUCCEEDED, last_transition_time=created)
        store.put_revision(Revision(name, service, created, conditions=(ready,)))
        store.put_service(service, name, name, [TrafficStatus(name, 100)])
        store.insert_log(
            LogEntry(
                at(day, 12) + timedelta(minutes=m),
                "INFO",
                "handled",
                service=service,
                revision=name,
            )
            for day in (HEALTHY, INCIDENT, INCIDENT + timedelta(days=1))
            for m in range(0, 60 * 24, 20)
        )


def fixture_sources(config: Config) -> Sources:
    """The store seeded for both dates (the incident's phase 3 with 2 untracked)."""
    store = LocalStore()
    for dataset in ("nba_reference", "nba_analytics", "nba_raw", "nba_predictions"):
        store.attach_dataset(dataset)
    for table, columns in TABLES.items():
        typed = ", ".join(f"{name} {SQLITE_TYPES[kind]}" for name, kind in columns)
        store.execute(f"CREATE TABLE {table} ({typed})")
    for day in (HEALTHY - timedelta(days=1), HEALTHY, INCIDENT):
        seed_completions(store, config, day, untracked=2 if day == INCIDENT else 0)
        seed_tables(store, day)
    seed_tables(store, FLAWED, flawed=True)
    seed_platform(store, config)
    return Sources(
        "file",
        "the May 2026 fixture",
        FrozenClock(NOW),
        keyed(store, config.phases),
        revisions=store,
        logs=store,
        closers=[store],
    )


def walkthrough(config: Config, sources: Sources, day: date) -> list[CheckResult]:
    inputs = gather_daily(config, sources, day, validation=lambda: (0, 0, []))
    return evaluate(inputs, config.timezone)


@pytest.fixture(scope="module")
def sources(may: Config) -> Sources:
    return fixture_sources(may)


def test_the_example_models_the_runbooks_pipeline(may: Config) -> None:
    phases = {p.name: p for p in may.phases}
    assert phases["phase2"].orchestrator is None and phases["phase2"].next_phase == "phase3"
    assert phases["phase3"].keyed_date(HEALTHY) == HEALTHY + timedelta(days=1)
    assert phases["phase3"].next_offset == 1
    assert may.daily_words.execution_ok == {"complete"}
    assert "failed_permanent" in may.daily_words.queue_handled
    assert len(may.daily_checks) == 8


def test_a_healthy_day_passes_every_check_the_store_can_answer(
    may: Config, sources: Sources
) -> None:
    results = walkthrough(may, sources, HEALTHY)
    said = {r.id: (r.status.value, r.evidence) for r in results}
    assert overall(results) is CheckStatus.PASS, said
    failing = {k: v for k, v in said.items() if v[0] not in ("pass", "skipped")}
    assert failing == {}
    skipped = {k for k, v in said.items() if v[0] == "skipped"}
    assert skipped == {"scheduler", "scheduler_iam", "cloud_build", "exports"}  # no platform
    custom = [r for r in results if r.id.startswith("custom.")]
    assert len(custom) == 8 and all(r.status is CheckStatus.PASS for r in custom), custom
    assert said["phase3.trigger"] == (
        "pass",
        f"phase4 of {HEALTHY + timedelta(days=1):%m-%d} at 05:02 (all_complete)",
    )


def test_the_incident_day_fails_for_its_causes_only(may: Config, sources: Sources) -> None:
    results = walkthrough(may, sources, INCIDENT)
    failed = {r.id for r in results if r.status is CheckStatus.FAIL}
    assert failed == {"phase3.completion", "phase3.trigger"}
    said = {r.id: r for r in results}
    assert "untracked" in said["phase3.completion"].evidence
    assert (
        said["phase3.trigger"].evidence
        == f"phase4 of {INCIDENT + timedelta(days=1):%m-%d} NOT triggered"
    )
    # Phase 4 of the incident's date was triggered by the day before's phase 3: it ran,
    # and is neither blocked nor failed by today's.
    assert said["phase4.completion"].status is CheckStatus.PASS
    assert said["phase5.completion"].status is CheckStatus.PASS
    others = {r.status for r in results if r.id not in failed}
    assert others <= {CheckStatus.PASS, CheckStatus.SKIPPED}


def test_phase_4_missing_is_its_own_failure_not_blocked_by_the_same_dates_phase_3(
    may: Config,
) -> None:
    """Under the runbook's chain, the phase 4 of D that never ran was phase 3 of D-1's to
    trigger: it fails as missing. Read as one date's chain it would be called blocked by
    D's phase 3, which triggers tomorrow's."""
    store_sources = replace(fixture_sources(may), clock=FrozenClock(NOW + timedelta(days=1)))
    try:
        missing = date(2026, 5, 13)  # phase 3 of the incident (D-1) never triggered it
        seed_completions_only_phase3(store_sources, may, missing)
        results = {r.id: r for r in walkthrough(may, store_sources, missing)}
        assert results["phase4.completion"].status is CheckStatus.FAIL
        chained = replace(may, phases=tuple(replace(p, next_offset=0) for p in may.phases))
        results = {r.id: r for r in walkthrough(chained, store_sources, missing)}
    finally:
        store_sources.close()
    assert results["phase4.completion"].status is CheckStatus.BLOCKED


def seed_completions_only_phase3(sources: Sources, config: Config, day: date) -> None:
    """Phases 2 and 3 of `day` done and phase 3 stuck (not triggered): phase 4 and 5 of
    `day` never ran."""
    store = sources.revisions
    assert isinstance(store, LocalStore)
    for spec in config.phases[:2]:
        keyed = spec.keyed_date(day)
        names = [p.name for p in spec.processors]
        store.record_firestore(
            (spec.name, keyed, CompletionRecord(n, "success", at(keyed, 5), 1)) for n in names
        )
        store.insert_backup_rows(
            BackupRow(spec.name, keyed, n, "success", at(keyed, 5), 1) for n in names
        )


def test_phases_beyond_five_are_judged_like_the_others(tmp_path: Path) -> None:
    """A pipeline with a phase 6 and 7 (the runbook's publishing, then grading): each is
    reconciled, triggered and judged, its due time and trigger as configured."""
    text = MAY.read_text()
    text = text.replace(
        'name = "phase5"\nlabel = "predictions"\n',
        'name = "phase5"\nlabel = "predictions"\norchestrator = "phase5-to-phase6-orchestrator"\n'
        'next_phase = "phase6"\n',
    )
    text += (
        '\n[[phases]]\nname = "phase6"\nlabel = "publishing"\norchestrator = '
        '"phase6-to-phase7-orchestrator"\nnext_phase = "phase7"\ndue_after = "18:00"\n'
        'processors = [{ name = "daily_export" }]\n'
        '\n[[phases]]\nname = "phase7"\nlabel = "grading"\nkeyed_by = "processing_date"\n'
        'due_after = "09:00"\nprocessors = [{ name = "prediction_grader" }]\n'
    )
    path = tmp_path / "seven.toml"
    path.write_text(text)
    seven = load_config(path)
    assert [p.name for p in seven.phases][-3:] == ["phase5", "phase6", "phase7"]
    sources = fixture_sources(seven)
    try:
        healthy = {r.id: r.status for r in walkthrough(seven, sources, HEALTHY)}
        store = sources.revisions
        assert isinstance(store, LocalStore)
        # The healthy date's grading (keyed by the next day) never ran.
        graded = (HEALTHY + timedelta(days=1)).isoformat()
        for table, column in (
            ("firestore_completion", "processor"),
            ("phase_completions", "processor_name"),
        ):
            store.execute(
                f"DELETE FROM {table} WHERE {column} = 'prediction_grader' AND game_date = ?",
                [(graded,)],
            )
        ungraded = {r.id: r for r in walkthrough(seven, sources, HEALTHY)}
    finally:
        sources.close()
    for check in ("phase6.completion", "phase6.trigger", "phase7.completion"):
        assert healthy[check] is CheckStatus.PASS, check
    assert ungraded["phase7.completion"].status is CheckStatus.FAIL
    assert "missing prediction_grader" in ungraded["phase7.completion"].evidence
    assert ungraded["phase6.trigger"].status is CheckStatus.PASS


def test_each_data_checks_sql_says_the_same_on_bigquery_and_on_a_store_file(
    loopback: object, gcp_project: str, may: Config
) -> None:
    """The example's checks are written once and run on both: on the BigQuery emulator
    (ZetaSQL, BigQuery's own SQL front end) and on SQLite, over the same rows, every
    check gives the same number on a healthy date and on a date with each flaw."""
    from google.cloud import bigquery
    from loopback import seed

    from orchwatch.sources.gcp import build_gcp_sources

    config = loopback.config(may, gcp_project)  # type: ignore[attr-defined]
    sources = build_gcp_sources(config, gcp_project)
    store = fixture_sources(may)
    try:
        client = sources.completions.bigquery.clients.bigquery()  # type: ignore[attr-defined]
        local = store.revisions
        assert isinstance(local, LocalStore)
        seed.seed_bigquery(client, local, config.bigquery_dataset)
        for table, columns in TABLES.items():
            dataset = table.split(".")[0]
            client.create_dataset(f"{gcp_project}.{dataset}", exists_ok=True)
            schema = [bigquery.SchemaField(name, kind) for name, kind in columns]
            made = client.create_table(bigquery.Table(f"{gcp_project}.{table}", schema=schema))
            rows = [
                row
                for day in (HEALTHY - timedelta(days=1), HEALTHY, INCIDENT, FLAWED)
                for row in table_rows(day, day == FLAWED)[table]
            ]
            names = [name for name, _ in columns]
            assert not client.insert_rows_json(
                made, [dict(zip(names, r, strict=True)) for r in rows]
            )
        for day in (HEALTHY, INCIDENT, FLAWED):
            for check in may.daily_checks:
                on_bigquery = sources.completions.scalar_query(check.sql, day)
                on_sqlite = local.scalar_query(check.sql, day)
                assert on_bigquery == on_sqlite, (check.name, day)
        flawed = {c.name: local.scalar_query(c.sql, FLAWED) for c in may.daily_checks}
    finally:
        sources.close()
        store.close()
    assert flawed == {
        "phase 3 game-level coverage": 1.0,  # GSW @ SAC has no analytics
        "minutes coverage": 80.0,  # 2 of 10 players of each team without minutes
        "usage-rate coverage": 100.0,
        "duplicate team records": 1.0,  # MIA twice
        "team stats completeness": 2.0,  # DEN's game, and GSW @ SAC
        "scraper freshness (days)": 14.0,
        "tonight export completeness": 1.0,  # game 1's predictions all inactive
        "predictions generated": 0.0,  # no phase 5 on that date
    }
