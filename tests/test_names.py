"""A name that matches nothing is said as such (exit 2), with the nearest names: a typo
must never read as an all-clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchwatch.cli import main
from orchwatch.names import edit_distance, nearest, no_such


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [("", "", 0), ("abc", "", 3), ("kitten", "sitting", 3), ("orchestrater", "orchestrator", 1)],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(a, b) == edit_distance(b, a) == distance


def test_nearest_names_only_the_closest_within_reach() -> None:
    names = ["phase2-to-phase3-orchestrator", "phase3-to-phase4-orchestrator", "self-heal"]
    assert nearest("phase3-to-phase4-orchestrater", names) == ["phase3-to-phase4-orchestrator"]
    assert nearest("nope", names) == []
    assert no_such("service", "nope", []) == "no service 'nope'; no service is known"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["explain", "--demo", "--service", "phase3-to-phase4-orchestrater"],
            "no service 'phase3-to-phase4-orchestrater'; did you mean "
            "'phase3-to-phase4-orchestrator'; known: ",
        ),
        (
            ["errors", "--demo", "--service", "phase3-to-phase4-orchestrater"],
            "in the logs read; did you mean 'phase3-to-phase4-orchestrator'; known: ",
        ),
        (["errors", "--demo", "--service", "nope"], "no service 'nope' in the logs read; known: "),
        (
            ["revisions", "--demo", "--service", "self-heel"],
            "no service 'self-heel' in the demo's Cloud Run; did you mean 'self-heal'",
        ),
        (
            ["explain", "--demo", "--phase", "phase3", "--processor", "team_defence_game_summary"],
            "no processor 'team_defence_game_summary' in phase3; did you mean "
            "'team_defense_game_summary'",
        ),
        (["explain", "--demo", "--phase", "phase33"], "no phase 'phase33'; did you mean 'phase3'"),
    ],
)
def test_a_name_that_matches_nothing_is_exit_2_with_the_nearest(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no all-clear printed beside it
    assert captured.err.startswith("orchwatch: ") and said in captured.err


def test_a_service_outside_the_watched_ones_but_in_the_logs_is_known(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["errors", "--demo", "--service", "nba-phase3-analytics-processors"]) == 0
    assert "KeyError ×" in capsys.readouterr().out


def test_a_watched_service_with_no_traceback_is_an_answer_not_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["errors", "--demo", "--service", "phase4-to-phase5-orchestrator"]) == 0
    assert capsys.readouterr().out.startswith("0 groups from ")


def test_a_service_that_is_not_in_the_file_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = {
        "timestamp": "2026-02-01T12:00:00Z",
        "textPayload": "x",
        "resource": {"labels": {"service_name": "svc-a"}},
    }
    path = tmp_path / "logs.json"
    path.write_text(json.dumps([record]))
    assert main(["errors", "--from-file", str(path), "--service", "svc-b"]) == 2
    err = capsys.readouterr().err
    assert f"no service 'svc-b' in {path}; did you mean 'svc-a'; known: svc-a" in err
    assert main(["errors", "--from-file", str(path), "--service", "svc-a"]) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["daily", "--demo", "--date", "2025-06-01"],
        ["explain", "--demo", "--date", "2026-03-01", "--phase", "phase3"],
        ["timeline", "--demo", "--date", "2026-01-02"],
    ],
)
def test_a_date_the_source_holds_no_data_for_is_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A date outside the demo's story (or a snapshot's capture) names nothing: said so,
    never judged as an empty day (which the walkthrough would call missing, or pass)."""
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "holds no data for it (it holds 2026-01-19 to 2026-02-03)" in err


def test_a_date_outside_a_snapshot_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "s.db"
    assert main(["snapshot", "--demo", "--days", "2", "-o", str(store)]) == 0
    capsys.readouterr()
    assert main(["daily", "--source", str(store), "--date", "2026-01-20"]) == 2
    assert "holds no data for it (it holds 2026-01-31 to 2026-02-01)" in capsys.readouterr().err
    assert main(["daily", "--source", str(store), "--date", "2026-01-31"]) in (0, 1, 2)
    assert "holds no data" not in capsys.readouterr().err
