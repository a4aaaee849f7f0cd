"""`orchwatch revisions` on the demo: text, JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchwatch.cli import main
from orchwatch.config import EXAMPLE_CONFIG


def test_text_names_the_stuck_service_first_with_its_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["revisions", "--demo"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("✗ phase3-to-phase4-orchestrator")
    assert "CRASHING 00025 · latest 00026 FAILED" in lines[0]  # serving, crash-looping
    assert "HealthCheckContainerError" in lines[1]


def test_a_serving_revision_that_crash_loops_exits_1_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ready and serving for days, yet its logs of the last hour are a crash loop."""
    service = "phase3-to-phase4-orchestrator"
    assert main(["revisions", "--demo", "--service", service, "--format", "json"]) == 1
    [verdict] = json.loads(capsys.readouterr().out)["services"]
    assert verdict["crashing"] is True and verdict["health"] == "bad"
    assert verdict["verdict"].startswith("CRASHING 00025 · ")
    assert "ModuleNotFoundError in the last 1 h of logs" in verdict["verdict"]
    assert main(["revisions", "--demo", "--service", "phase2-to-phase3-orchestrator"]) == 0
    out = capsys.readouterr().out
    assert "healthy" in out and "crash loops not checked" not in out


def test_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "revisions",
                "--demo",
                "--service",
                "phase2-to-phase3-orchestrator",
                "--format",
                "json",
            ]
        )
        == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert document["version"] == 1
    [service] = document["services"]
    assert service["service"] == "phase2-to-phase3-orchestrator"
    assert service["health"] == "ok"
    assert service["revisions"][0]["marker"] == "serving"
    assert service["revisions"][0]["traffic_percent"] == 100
    assert {r["marker"] for r in service["revisions"][1:]} == {"retired"}


def test_a_name_that_is_neither_watched_nor_found_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["revisions", "--demo", "--service", "nope"]) == 2
    assert "no service 'nope' in the demo's Cloud Run; known: " in capsys.readouterr().err


def test_a_watched_service_gone_from_cloud_run_is_a_finding_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE_CONFIG.read_text().replace('"self-heal"]', '"self-heal", "retired-service"]')
    (tmp_path / "o.toml").write_text(text)
    assert main(["--config", str(tmp_path / "o.toml"), "revisions", "--demo"]) == 1
    [row] = [line for line in capsys.readouterr().out.splitlines() if "retired-service" in line]
    assert row.startswith("? retired-service ")
    assert row.endswith(" not found in the demo's Cloud Run")  # never an invented history


def test_source_option_after_the_verb_and_before(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--demo", "revisions", "--service", "self-heal"]) == 1
    assert "rolled back from" in capsys.readouterr().out


def test_as_of_replays_the_demo_for_a_headless_verb(capsys: pytest.CaptureFixture[str]) -> None:
    """Two hours into the scenario 00027 is Ready, serving and crash-looping."""
    service = "phase3-to-phase4-orchestrator"
    argv = ["--as-of", "2026-02-01T13:30", "revisions", "--demo", "--service", service]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "CRASHING 00027 · " in out and "since it started serving 1 h ago" in out
    assert out.rstrip().endswith("as of 2026-02-01 08:30 EST")


def test_times_are_shown_in_the_ui_timezone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The pipeline's zone by default; `[ui] timezone` moves every shown time."""
    assert main(["--as-of", "2026-02-01T13:30", "revisions", "--demo"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "as of 2026-02-01 08:30 EST"
    config = tmp_path / "orchwatch.toml"
    config.write_text(EXAMPLE_CONFIG.read_text().replace("[ui]\n", '[ui]\ntimezone = "UTC"\n'))
    assert main(["--config", str(config), "--as-of", "2026-02-01T13:30", "revisions", "--demo"])
    assert capsys.readouterr().out.splitlines()[-1] == "as of 2026-02-01 13:30 UTC"


def test_a_crash_looping_revision_left_serving_is_marked_crashing_not_stuck(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One marker a revision: 00025 serves because 00026 failed (stuck) and crash-loops
    (crashing); it is crashing, and its reason keeps why it still serves."""
    import json

    main(["revisions", "--demo", "--service", "phase3-to-phase4-orchestrator", "--format", "json"])
    [service] = json.loads(capsys.readouterr().out)["services"]
    markers = {row["marker"] for row in service["revisions"]}
    assert "stuck" not in markers and "crashing" in markers
    [row] = [r for r in service["revisions"] if r["marker"] == "crashing"]
    assert row["reason"].endswith("; a newer revision never became Ready")
