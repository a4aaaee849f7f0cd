"""`orchwatch snapshot` from the Google Cloud sources, opened offline with --source."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Loopback
from gcp_helpers import Seeded
from loopback.seed import write_config

from orchwatch.analysis.completion import reconcile_dates
from orchwatch.cli import main
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.gather import gather_errors, gather_revisions
from orchwatch.snapshot import capture
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources

World = tuple[Config, Sources, Sources, Seeded]


def test_a_snapshot_opens_offline_showing_what_the_cloud_showed(
    world: World, tmp_path: Path
) -> None:
    from dataclasses import replace

    from gcp_helpers import gcp_sources

    config, _, _, seeded = world
    # This test compares a snapshot with the servers, not the Logging call budget (its own
    # tests pin that): the highest budget allowed, so it never waits out a minute.
    config = replace(config, gcp=replace(config.gcp, log_list_calls_per_minute=60))
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    days = seeded.dates[-3:]
    steps: list[tuple[str, int, int]] = []
    summary = capture(config, gcp, days, tmp_path / "incident.db", lambda *s: steps.append(s))
    assert steps[-1][0] == "done" and steps[-1][1] == steps[-1][2]
    assert summary.documents > 0 and summary.services == 6 and summary.log_entries > 0

    offline = build_sources(SourceOptions(store_path=tmp_path / "incident.db"), config)
    try:
        assert offline.clock.now() == DEMO_START  # judged as of the capture
        now = DEMO_START
        assert reconcile_dates(
            config, offline.completions.fetch_completions(days), days, now
        ) == reconcile_dates(config, gcp.completions.fetch_completions(days), days, now)
        for day in days:
            assert offline.completions.fetch_failed_queue(
                day
            ) == gcp.completions.fetch_failed_queue(day)
            assert offline.completions.fetch_execution_log(
                day
            ) == gcp.completions.fetch_execution_log(day)
        assert gather_revisions(config, offline).verdicts == gather_revisions(config, gcp).verdicts
        since = timedelta(hours=3)
        want = [(g.fingerprint, g.count) for g in gather_errors(config, gcp, since).groups]
        got = [(g.fingerprint, g.count) for g in gather_errors(config, offline, since).groups]
        assert got == want and got
    finally:
        offline.close()
        gcp.close()


def test_the_snapshot_command_writes_a_file_the_dashboard_opens(
    loopback: Loopback, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = write_config(tmp_path, loopback.endpoints(), "orchwatch-world")
    out = tmp_path / "incident.db"
    code = main(
        [
            "snapshot",
            "--config",
            str(config_file),
            "--date",
            "2026-02-01",
            "--days",
            "2",
            "-o",
            str(out),
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "2 dates (2026-01-31 to 2026-02-01)" in printed.out
    assert f"orchwatch --source {out}" in printed.out
    assert "[5/8] Cloud Run services and revisions" in printed.err  # the progress, not a tty
    # Refuses to overwrite without --force: nothing lost.
    assert main(["snapshot", "--config", str(config_file), "-o", str(out)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    # The headless verbs read it offline.
    result = subprocess.run(
        [sys.executable, "-m", "orchwatch", "revisions", "--source", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "phase3-to-phase4-orchestrator" in result.stdout
    assert "HealthCheckContainerError" in result.stdout


def test_the_explain_chain_is_the_same_from_a_snapshot(world: World, tmp_path: Path) -> None:
    """The chain for the untracked cell, read from the local servers and from a snapshot
    of them, link for link."""
    from orchwatch.analysis.explain import explain, explanation_json
    from orchwatch.gather import gather_explain

    config, _, gcp, seeded = world
    day = DEMO_START.date()
    capture(config, gcp, seeded.dates[-3:], tmp_path / "incident.db", lambda *s: None)
    offline = build_sources(SourceOptions(store_path=tmp_path / "incident.db"), config)
    cell = {"phase": "phase3", "processor": "team_defense_game_summary"}
    try:
        chains = [
            explanation_json(explain(gather_explain(config, s, day), config.shown_zone, **cell))
            for s in (gcp, offline)
        ]
    finally:
        offline.close()
    assert chains[0] == chains[1]
    kinds = [link["kind"] for link in chains[0]["links"]]  # type: ignore[index]
    assert kinds[:4] == ["completion", "pubsub", "service", "errors"]
    hop = chains[0]["links"][1]  # type: ignore[index]
    assert "which refused it" in hop["summary"] and "dropped" in hop["summary"]
    assert chains[0]["root_cause"] is not None


def test_the_timeline_is_the_same_from_a_snapshot(world: World, tmp_path: Path) -> None:
    """The date's timeline from the local servers and from a snapshot of them, event for
    event, with the incident in it."""
    from orchwatch.analysis.timeline import timeline, timeline_json
    from orchwatch.gather import gather_timeline

    config, _, gcp, seeded = world
    day = DEMO_START.date()
    capture(config, gcp, seeded.dates[-3:], tmp_path / "incident.db", lambda *s: None)
    offline = build_sources(SourceOptions(store_path=tmp_path / "incident.db"), config)
    try:
        lines = [
            timeline_json(timeline(gather_timeline(config, s, day), config.shown_zone))
            for s in (gcp, offline)
        ]
    finally:
        offline.close()
    assert lines[0] == lines[1]
    kinds = {event["kind"] for event in lines[0]["events"]}
    assert {"failed", "errors-first", "trigger-missed"} <= kinds
