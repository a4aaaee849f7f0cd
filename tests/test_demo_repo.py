"""The demo repo holds exactly the incidents of PIPELINE.md, and fixing one clears it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchwatch.cli import main
from orchwatch.validate.cache import FactsCache
from orchwatch.validate.demo_repo import write_demo_repo
from orchwatch.validate.engine import validate_repo


@pytest.fixture
def demo_repo(tmp_path: Path) -> Path:
    write_demo_repo(tmp_path / "repo")
    return tmp_path / "repo"


def test_validate_finds_each_planted_incident(demo_repo: Path) -> None:
    report = validate_repo(demo_repo, cache=FactsCache())
    by_function = {
        f.name: sorted({(x.rule.value, x.module) for x in report.for_function(f.name)})
        for f in report.functions
    }
    assert by_function == {
        "auto_backfill_orchestrator": [("broken-symlink", None)],
        "daily_health_summary": [
            ("missing-requirement", "google.cloud.storage"),
            ("missing-requirement", "pandas"),
            ("missing-requirement", "psutil"),
        ],
        "phase2_to_phase3": [],
        "phase3_to_phase4": [("missing-module", "shared.validation.phase3_data_quality_check")],
        "phase4_to_phase5": [
            ("deploy-source-missing", None),
            ("missing-module", "shared.clients"),
            ("missing-module", "shared.config"),
            # rsync creates shared/utils/ even though its source is gone: an empty
            # namespace package, from which get_logger cannot be imported.
            ("missing-module", "shared.utils.get_logger"),
            ("missing-module", "shared.validation"),
        ],
        "phase5_to_phase6": [],
        "self_heal": [],
    }


def test_adding_the_missing_symlink_clears_phase3(demo_repo: Path) -> None:
    folder = demo_repo / "orchestration/cloud_functions/phase3_to_phase4/shared/validation"
    os.symlink(
        "../../../../../shared/validation/phase3_data_quality_check.py",
        folder / "phase3_data_quality_check.py",
    )
    report = validate_repo(demo_repo, only="phase3_to_phase4", cache=FactsCache())
    assert report.functions[0].ok
    assert report.findings == ()


def test_demo_repo_refuses_a_non_empty_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x").write_text("keep me", encoding="utf-8")
    assert main(["demo-repo", str(tmp_path)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (tmp_path / "x").read_text(encoding="utf-8") == "keep me"
