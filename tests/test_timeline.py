"""`orchwatch timeline`: one time axis for a date, from every layer, in time order."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from orchwatch.analysis.daily import Fetched
from orchwatch.analysis.timeline import Action, timeline, timeline_lines
from orchwatch.cli import main
from orchwatch.config import Config
from orchwatch.gather import gather_timeline
from orchwatch.sources.base import Sources

DAY = date(2026, 2, 1)


def run(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> str:
    audit = str(tmp_path / "audit.jsonl")  # never the user's own
    assert main([*args, "timeline", "--demo", "--date", "2026-02-01", "--audit-file", audit]) == 0
    return capsys.readouterr().out


def test_the_markdown_tells_the_incident_in_time_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--as-of replays the demo to 13:30 UTC, after 00027's deploy."""
    lines = run(capsys, tmp_path, "--as-of", "2026-02-01T13:30").splitlines()
    assert lines[0].startswith("timeline 01-29 20:35 to 02-01 08:30 (America/New_York)")
    markdown = main(
        [
            "--as-of",
            "2026-02-01T13:30",
            "timeline",
            "--demo",
            "--date",
            "2026-02-01",
            "--format",
            "markdown",
            "--audit-file",
            str(tmp_path / "a.jsonl"),
        ]
    )
    assert markdown == 0
    md = capsys.readouterr().out.splitlines()
    assert md[0] == "## Timeline (America/New_York, 01-29 20:35 to 02-01 08:30)"

    def first(fragment: str) -> int:
        return next(i for i, line in enumerate(md) if fragment in line)

    story = [
        first("phase3-to-phase4-orchestrator 00026 FAILED: HealthCheckContainerError"),
        first("first ModuleNotFoundError: No module named 'shared.validation.phase3_data"),
        first("phase3 team_defense_game_summary completed (BigQuery); Firestore never"),
        first("phase3 upcoming_player_game_context completed (BigQuery); Firestore never"),
        first("phase4 NOT triggered: BigQuery has 5/5 of phase3, Firestore counts 3/5"),
        first("phase3-to-phase4-orchestrator 00027 created"),
    ]
    assert story == sorted(story), story
    assert md[story[0]].startswith("- **01-29 20:39** ✗ Cloud Run:")  # Jan 29, New York
    times = [line.split("**")[1] for line in md if line.startswith("- **")]
    assert times == sorted(times)


def test_json_schema_v1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert (
        main(
            [
                "timeline",
                "--demo",
                "--date",
                "2026-02-01",
                "--format",
                "json",
                "--audit-file",
                str(tmp_path / "a.jsonl"),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"version", "from", "to", "events", "unavailable"}
    assert out["version"] == 1 and out["unavailable"] == []
    event = out["events"][0]
    assert set(event) == {"at", "kind", "source", "subject", "summary", "severity", "detail"}
    ats = [datetime.fromisoformat(e["at"]) for e in out["events"]]
    assert ats == sorted(ats)
    assert {"failed", "errors-first", "bigquery", "firestore", "trigger", "trigger-missed"} <= {
        e["kind"] for e in out["events"]
    }


def test_a_source_that_cannot_be_read_is_named_and_the_rest_is_shown(
    config: Config, demo: Sources
) -> None:
    inputs = gather_timeline(config, demo, DAY)
    down = replace(inputs, groups=Fetched(None, "Cloud Logging: 503"))
    line = timeline(down, config.shown_zone)
    assert not any(e.source == "Cloud Logging" for e in line.events)
    assert any(e.kind == "trigger-missed" for e in line.events)
    assert (
        timeline_lines(line, config.shown_zone)[-1] == "not read: Cloud Logging: Cloud Logging: 503"
    )


def test_audited_actions_are_events(config: Config, demo: Sources) -> None:
    inputs = gather_timeline(config, demo, DAY)
    at = inputs.now - timedelta(minutes=20)
    run = Action(at, "ana@laptop", "deploy", "phase3-to-phase4-orchestrator", "exit 0")
    line = timeline(replace(inputs, actions=(run,)), config.shown_zone)
    event = next(e for e in line.events if e.kind == "action")
    assert event.summary == "ana@laptop ran deploy on phase3-to-phase4-orchestrator: exit 0"
    assert event.at == at


def test_each_audit_record_is_placed_by_its_own_time(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    """A time with `Z`, one without a zone (UTC, as orchwatch writes), and one that does
    not parse (left off the axis): one odd record never stops the timeline."""
    import json

    audit = tmp_path / "audit.jsonl"
    base = {"command": ["x"], "user": "ana", "host": "laptop", "action": "deploy", "service": ""}
    times = {"a": "2026-02-01T10:00:00Z", "b": "2026-02-01T10:30:00", "c": "yesterday-ish"}
    audit.write_text(
        "".join(
            json.dumps({**base, "event": "started", "id": run, "time": at}) + "\n"
            for run, at in times.items()
        )
    )
    line = timeline(gather_timeline(config, demo, DAY, audit), config.shown_zone)
    placed = [e.at.isoformat() for e in line.events if e.kind == "action"]
    assert placed == ["2026-02-01T10:00:00+00:00", "2026-02-01T10:30:00+00:00"]


def test_the_pubsub_lane_shows_when_pushes_were_refused_and_where_they_went(
    config: Config, demo: Sources
) -> None:
    line = timeline(gather_timeline(config, demo, date(2026, 2, 1)), config.shown_zone)
    refused = [e for e in line.events if e.source == "Pub/Sub"]
    assert [e.kind for e in refused] == ["pushes-refused", "pushes-refused-last"]
    assert all(e.subject == "phase3" for e in refused)
    first, last = refused
    assert "refused from here" in first.summary and first.severity.value == "bad"
    assert "messages dropped" in last.summary
    # The refusals began after a recorded processor's completion, and by the time the
    # first of the lost ones completed.
    seen = {e.subject: e.at for e in line.events if e.kind == "bigquery"}
    assert seen["player_game_summary"] < first.at <= seen["team_defense_game_summary"]
    healthy = timeline(gather_timeline(config, demo, date(2026, 1, 30)), config.shown_zone)
    assert not [e for e in healthy.events if e.source == "Pub/Sub"]
