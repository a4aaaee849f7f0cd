"""The demo repo holds exactly the incidents of PIPELINE.md, and fixing one clears it."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from orchwatch.cli import main
from orchwatch.config import EXAMPLE_CONFIG, Config
from orchwatch.gather import gather_revisions
from orchwatch.preflight import preview_deploy
from orchwatch.sources.base import Sources
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


def test_the_demo_repo_has_the_history_its_revisions_were_built_from(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: Config, demo: Sources
) -> None:
    """Drift and "would ship" work in the demo: the repo's commits carry the ids the demo's
    revisions were deployed with (no `not a git repository`)."""
    repo = tmp_path / "repo"
    assert main(["demo-repo", str(repo)]) == 0
    assert "with a git history of 3 commits" in capsys.readouterr().out
    settings = tmp_path / "orchwatch.toml"
    settings.write_text(
        EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(
            '# path = "~/code/nba-stats-scraper"', f'path = "{repo}"'
        ),
        encoding="utf-8",
    )
    assert main(["--config", str(settings), "revisions", "--demo"]) == 1
    out = capsys.readouterr().out
    assert "git log failed" not in out and "drift unknown" not in out
    [crashing] = [line for line in out.splitlines() if "phase3-to-phase4" in line]
    assert crashing.endswith("· 1 commit behind")
    # The redeploy's confirmation: what would ship is the commit the failed 00026 was built from.
    ours = replace(config, repo_path=repo)
    view = gather_revisions(ours, demo, ["phase3-to-phase4-orchestrator"], read_logs=False)
    preview = preview_deploy(
        ours, "phase3-to-phase4-orchestrator", ["true"], view.verdicts[0], view.now
    )
    assert [c.split(" ", 1)[1] for c in preview.commits] == [
        "phase3_to_phase4: gate phase 4 on the quality check"
    ]
    assert preview.serving == "00025" and preview.commits_note == ""
    # And the files are those the validator judges: the history changes none of them.
    report = validate_repo(repo, only="phase3_to_phase4", cache=FactsCache())
    assert not report.functions[0].ok


def test_the_deploy_preview_names_what_no_commit_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: Config, demo: Sources
) -> None:
    """A redeploy ships the working tree: files of the function's package that differ from
    HEAD are named in the confirmation, files elsewhere are not."""
    repo = tmp_path / "repo"
    assert main(["demo-repo", str(repo)]) == 0
    capsys.readouterr()
    ours = replace(config, repo_path=repo)
    service = "phase3-to-phase4-orchestrator"
    view = gather_revisions(ours, demo, [service], read_logs=False)
    clean = preview_deploy(ours, service, ["true"], view.verdicts[0], view.now)
    assert clean.uncommitted == [] and clean.uncommitted_note == ""
    folder = repo / "orchestration" / "cloud_functions" / "phase3_to_phase4"
    (folder / "main.py").write_text("# edited, not committed\n", encoding="utf-8")
    (folder / "scratch.py").write_text("x = 1\n", encoding="utf-8")
    (repo / "README.md").write_text("elsewhere\n", encoding="utf-8")
    dirty = preview_deploy(ours, service, ["true"], view.verdicts[0], view.now)
    assert dirty.uncommitted == [
        "M orchestration/cloud_functions/phase3_to_phase4/main.py",
        "?? orchestration/cloud_functions/phase3_to_phase4/scratch.py",
    ]
