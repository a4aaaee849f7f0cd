"""`orchwatch explain`: the chain from a red cell to its cause, on the demo, with and
without the repo, with a source down; the JSON schema the README documents."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from orchwatch.analysis.daily import Fetched
from orchwatch.analysis.explain import (
    ExplainInputs,
    UnknownSubject,
    explain,
    explanation_json,
)
from orchwatch.cli import _demo_deploys, main
from orchwatch.config import EXAMPLE_CONFIG, Config
from orchwatch.gather import gather_explain
from orchwatch.sources.base import Sources
from orchwatch.validate.demo_repo import commit_history, write_demo_repo

DAY = date(2026, 2, 1)
CELL = ["--date", "2026-02-01", "--phase", "phase3", "--processor", "team_defense_game_summary"]
MODULE = "shared.validation.phase3_data_quality_check"


def demo_config(tmp_path: Path) -> Path:
    """The example config with `[repo] path` on a fresh demo repository."""
    repo = tmp_path / "repo"
    write_demo_repo(repo)
    assert commit_history(repo, _demo_deploys()), "git could not run"
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    path = tmp_path / "orchwatch.toml"
    path.write_text(text.replace('# path = "~/code/nba-stats-scraper"', f'path = "{repo}"'))
    return path


def test_json_schema_v1_names_the_missing_module_as_the_root_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = demo_config(tmp_path)
    assert main(["--config", str(config), "explain", "--demo", *CELL, "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"version", "subject", "links", "root_cause"}
    assert out["version"] == 1
    assert out["subject"] == "2026-02-01 phase3 team_defense_game_summary: untracked"
    for link in out["links"]:
        assert {"kind", "at", "source", "summary", "evidence", "next_step"} <= set(link)
    kinds = [link["kind"] for link in out["links"]]
    assert kinds == ["completion", "pubsub", "service", "errors", "package", "commits"]
    first = out["links"][0]
    assert "BigQuery has team_defense_game_summary's completion" in first["summary"]
    assert "Firestore does not" in first["summary"]
    assert first["at"].startswith("2026-02-01T")  # ISO 8601, UTC
    hop = out["links"][1]  # where the completion went: refused and dropped, not waiting
    assert hop["source"] == "Pub/Sub, Cloud Monitoring" and hop["broken"]
    assert (
        "pushed the completion of team_defense_game_summary to phase3-to-phase4" in (hop["summary"])
    )
    assert "dropped: not acknowledged, not waiting, no dead-letter topic" in hop["summary"]
    assert "orchwatch replay --date 2026-02-01 --phase phase3" in hop["next_step"]
    assert "CRASHING 00025" in out["links"][2]["summary"]
    errors = out["links"][3]
    assert f"ModuleNotFoundError: No module named '{MODULE}'" in errors["summary"]
    assert errors["inference"]  # joined to the completion by time: it says so
    root = out["root_cause"]
    assert root["link"] == 4
    assert root["summary"] == f"the module {MODULE} is missing from phase3_to_phase4's package"
    package = out["links"][4]
    assert "phase3_to_phase4/shared/validation/__init__.py:2" in package["evidence"][0]
    assert package["next_step"].startswith("fix: add a symlink")
    commits = out["links"][5]
    assert "since the deployed commit" in commits["summary"]
    assert any("gate phase 4 on the quality check" in e for e in commits["evidence"])


def test_without_a_repo_the_chain_says_so_and_ends_at_the_logs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "--demo", *CELL, "--format", "json"]) == 1
    out = json.loads(capsys.readouterr().out)
    package = out["links"][4]
    assert package["unavailable"] and not package["broken"]
    assert "no repo configured" in package["summary"]
    assert out["links"][out["root_cause"]["link"]]["kind"] == "errors"


def test_a_blocked_phase_is_explained_by_the_phase_that_blocks_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "--demo", "--date", "2026-02-01", "--phase", "phase4"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Why: 2026-02-01 phase4"
    assert "phase4 never ran: phase3 never triggered phase4" in lines[2]
    text = "\n".join(lines)
    assert "2 completions BigQuery has and Firestore does not" in text
    assert "phase3 → phase4 NOT triggered" in text
    assert lines[-2].startswith("Root cause (link ")
    assert lines[-1] == "times in America/New_York"


def test_a_healthy_cell_has_no_root_cause_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--date", "2026-02-01", "--phase", "phase2", "--processor", "p2_bdl_box_scores"]
    assert main(["explain", "--demo", *args, "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## Why: 2026-02-01 phase2 p2_bdl_box_scores: complete")
    assert "Nothing broken in what was read." in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phase", "phase9"], "no phase 'phase9'; did you mean 'phase2' or 'phase3' or"),
        (["--phase", "phase3", "--processor", "nope"], "no processor 'nope' in phase3"),
        (["--processor", "x"], "--processor needs --phase"),
        ([], "say what to explain"),
        (["--group", "zzzz"], "no error group 'zzzz'"),
    ],
)
def test_an_unknown_subject_is_a_usage_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "--demo", "--date", "2026-02-01", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_source_that_cannot_be_read_is_a_link_and_the_chain_goes_on(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    write_demo_repo(repo)
    inputs = gather_explain(replace(config, repo_path=repo), demo, DAY)
    down: ExplainInputs = replace(inputs, groups=Fetched(None, "Cloud Logging: 503"))
    chain = explanation_json(
        explain(down, config.shown_zone, phase="phase3", processor="team_defense_game_summary")
    )
    links = chain["links"]
    assert isinstance(links, list)
    errors = next(link for link in links if link["kind"] == "errors")
    assert errors["unavailable"] and "Cloud Logging: 503" in errors["summary"]
    root = chain["root_cause"]
    assert isinstance(root, dict) and MODULE in root["summary"]  # the validator still names it


def test_a_group_is_explained_through_its_service(config: Config, demo: Sources) -> None:
    inputs = gather_explain(config, demo, DAY)
    groups = inputs.groups.value or []
    crash = next(g for g in groups if g.exception_type == "ModuleNotFoundError")
    chain = explain(inputs, config.shown_zone, group=crash.fingerprint[:8])
    assert [link.kind for link in chain.links][:2] == ["errors", "service"]
    assert "CRASHING" in chain.links[1].summary
    with pytest.raises(UnknownSubject, match="no error group"):
        explain(inputs, config.shown_zone, group="not-a-group")


def test_the_next_step_offers_a_rollback_only_to_a_revision_seen_serving_cleanly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The main incident's older revision crash-looped too (or served before the logs
    read): no rollback. Three hours into the demo, auto-backfill-orchestrator's 00017
    crash-loops after 00016 served cleanly: roll back with b."""
    args = ["explain", "--demo", "--date", "2026-02-01", "--format", "json", "--service"]
    assert main(["--as-of", "2026-02-01T13:30", *args, "phase3-to-phase4-orchestrator"]) == 1
    service = json.loads(capsys.readouterr().out)["links"][0]
    assert "CRASHING 00027" in service["summary"]
    assert "no rollback: 00025 exited" in service["next_step"]
    assert main(["--as-of", "2026-02-01T15:00", *args, "auto-backfill-orchestrator"]) == 1
    service = json.loads(capsys.readouterr().out)["links"][0]
    assert "CRASHING 00017" in service["summary"]
    assert service["next_step"].startswith("roll back to 00016 with b")


def test_a_group_no_service_is_known_for_ends_at_the_logs(config: Config, demo: Sources) -> None:
    """A group read from entries without a service label (a log file, say) has no
    service to follow: the chain says what the logs show, and stops there."""
    inputs = gather_explain(config, demo, DAY)
    groups = inputs.groups.value or []
    orphan = replace(groups[0], services=())
    chain = explain(
        replace(inputs, groups=Fetched([orphan])), config.shown_zone, group=orphan.fingerprint
    )
    assert [link.kind for link in chain.links] == ["errors"]
