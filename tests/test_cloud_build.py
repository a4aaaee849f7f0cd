"""The runbook's Cloud Build trigger health check (0.69): each enabled trigger's newest
build succeeded and built its branch's head as far as the trigger's files go. A trigger
whose green builds keep an old commit (the runbook's Session 213) is critical after 7
days. Read with `ListBuildTriggers` and `ListBuilds` from the local gRPC server, which
serves the official `cloudbuild_v1` messages; the branches are a real git repository."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from conftest import Loopback
from gcp_helpers import Seeded, gcp_sources, walkthrough_check

from orchwatch.analysis.daily import NO_REPO, Fetched, TriggerLag, evaluate
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.gather import gather_daily, trigger_lag
from orchwatch.model import Build, BuildTrigger
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START

DAY = date(2026, 2, 1)


def git(repo: Path, *args: str, when: datetime | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="dev", GIT_AUTHOR_EMAIL="dev@example.com")
    env |= {"GIT_COMMITTER_NAME": "dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
    if when is not None:
        env |= {"GIT_AUTHOR_DATE": when.isoformat(), "GIT_COMMITTER_DATE": when.isoformat()}
    out = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def commit(repo: Path, path: str, when: datetime) -> str:
    """Change `path` and commit it at `when`; the new commit's id."""
    file = repo / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(f"{when.isoformat()}\n")
    git(repo, "add", path)
    git(repo, "commit", "-q", "-m", f"change {path}", when=when)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    """A repository whose main has a function's commit 20 days before the demo's start."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "export/main.py", DEMO_START - timedelta(days=20))
    yield root


def trigger(commit: str = "", status: str = "SUCCESS", **fields: object) -> BuildTrigger:
    build = Build("b-1", status, commit, DEMO_START - timedelta(days=1))
    base = BuildTrigger(
        "deploy-phase6-export",
        "t-1",
        branch="^main$",
        included_files=("export/**", "shared/**"),
        last_build=build,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def judged(
    config: Config, demo: Sources, lags: Fetched[list[TriggerLag]] | None
) -> tuple[str, str, str]:
    inputs = replace(
        gather_daily(config, demo, DAY, validation=lambda: (0, 0, [])),
        builds=lags,
        region="us-west2",
    )
    [result] = [r for r in evaluate(inputs, config.timezone) if r.id == "cloud_build"]
    return result.status.value, result.evidence, result.next_step


def test_a_build_at_the_branch_head_passes_and_unrelated_commits_do_not_count(
    config: Config, demo: Sources, repo: Path
) -> None:
    built = git(repo, "rev-parse", "HEAD")
    commit(repo, "docs/README.md", DEMO_START - timedelta(days=10))  # not the trigger's files
    lag = trigger_lag(trigger(built), repo)
    assert lag.behind == () and lag.ref == "refs/heads/main" and not lag.error
    status, evidence, step = judged(config, demo, Fetched([lag]))
    assert status == "pass" and step == "nothing to do"
    assert evidence.startswith("1 enabled trigger, every newest build SUCCESS, at their")


@pytest.mark.parametrize(("days", "status"), [(2, "warn"), (6, "warn"), (8, "fail"), (15, "fail")])
def test_commits_to_its_files_left_unbuilt_warn_and_a_week_is_critical(
    config: Config, demo: Sources, repo: Path, days: int, status: str
) -> None:
    """Session 213: five green builds of b5e5c5c while main moved on for two weeks."""
    built = git(repo, "rev-parse", "HEAD")
    newer = commit(repo, "shared/utils.py", DEMO_START - timedelta(days=days))
    commit(repo, "export/main.py", DEMO_START - timedelta(hours=3))
    lag = trigger_lag(trigger(built), repo)
    assert [c.sha for c in lag.behind][-1] == newer and len(lag.behind) == 2
    got, evidence, step = judged(config, demo, Fetched([lag]))
    assert got == status
    assert f"deploy-phase6-export: built {built[:7]}; 2 commits to its files on main" in evidence
    assert f"the oldest {days} d ago ({newer[:7]})" in evidence
    if status == "fail":
        assert step.startswith("gcloud builds triggers describe deploy-phase6-export")
        assert "deleted and recreated" in step


def test_the_pushed_branch_is_compared_before_the_local_one(
    config: Config, demo: Sources, repo: Path, tmp_path: Path
) -> None:
    built = git(repo, "rev-parse", "HEAD")
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "fetch", "-q", "origin")
    commit(repo, "export/main.py", DEMO_START - timedelta(days=9))  # local, never pushed
    lag = trigger_lag(trigger(built), repo)
    assert lag.ref == "refs/remotes/origin/main" and lag.behind == ()
    assert judged(config, demo, Fetched([lag]))[0] == "pass"


def test_a_failed_build_is_critical_and_disabled_triggers_are_not_judged(
    config: Config, demo: Sources, repo: Path
) -> None:
    failed = trigger_lag(trigger("abc1234", "FAILURE"), repo)
    off = trigger_lag(trigger("", "FAILURE", name="old", disabled=True), repo)
    status, evidence, step = judged(config, demo, Fetched([failed, off]))
    assert status == "fail"
    assert evidence == "deploy-phase6-export: newest build FAILURE (b-1)"
    assert step == "gcloud builds log b-1 --region=us-west2"


def test_what_cannot_be_compared_is_unknown_and_no_repo_is_never_a_pass(
    config: Config, demo: Sources, repo: Path
) -> None:
    built = git(repo, "rev-parse", "HEAD")
    unknown = [
        trigger_lag(trigger("0" * 40), repo),  # not in the repository: fetch it
        trigger_lag(trigger(built, branch="^release-.*$"), repo),
        trigger_lag(trigger(built, branch="^develop$"), repo),
        trigger_lag(trigger(""), repo),
    ]
    errors = [lag.error for lag in unknown]
    assert errors[0].startswith("git log failed")
    assert errors[1] == "it builds branches matching ^release-.*$: no one branch to compare with"
    assert errors[2] == "the repository has no branch develop (nor origin/develop)"
    assert errors[3] == "its newest build (b-1) names no commit"
    status, evidence, _ = judged(config, demo, Fetched(unknown))
    assert status == "unknown" and evidence.startswith("not compared with their branches")
    no_repo = trigger_lag(trigger(built), None)
    assert no_repo.error == NO_REPO
    status, evidence, step = judged(config, demo, Fetched([no_repo]))
    assert (
        status == "skipped" and NO_REPO in evidence and step == "set [repo] path in orchwatch.toml"
    )
    assert judged(config, demo, Fetched(None, "Cloud Build: permission denied"))[0] == "unknown"
    assert judged(config, demo, None)[:2] == (
        "skipped",
        "this source holds no Cloud Build triggers (a snapshot)",
    )


def test_the_local_servers_list_the_demos_triggers_as_cloud_build_does(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    """What ListBuildTriggers and ListBuilds return, read back into the model, is what the
    demo says; one listing and one call per enabled trigger."""
    _, demo, gcp, _ = world
    before = loopback.grpc.calls.copy()
    triggers = gcp.builds.fetch_triggers()  # type: ignore[union-attr]
    assert triggers == demo.builds.fetch_triggers()  # type: ignore[union-attr]
    assert len(triggers) == 2 and all(t.last_build and t.last_build.commit for t in triggers)
    assert loopback.grpc.calls["ListBuildTriggers"] - before["ListBuildTriggers"] == 1
    assert loopback.grpc.calls["ListBuilds"] - before["ListBuilds"] == 2


def test_a_trigger_behind_its_branch_on_the_server_fails_and_a_denied_list_is_unknown(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded], repo: Path
) -> None:
    """The server's newest build of a trigger built a commit its branch has left behind by
    more than a week; the walkthrough on Google Cloud names it."""
    from google.cloud.devtools import cloudbuild_v1

    config, _, _, _ = world
    config = replace(config, repo_path=repo)
    built = git(repo, "rev-parse", "HEAD")
    newer = commit(repo, "export/main.py", DEMO_START - timedelta(days=12))
    parent = f"projects/orchwatch-world/locations/{config.gcp_region}"
    kept_triggers, kept_builds = loopback.grpc.triggers[parent], loopback.grpc.builds[parent]
    stuck = cloudbuild_v1.BuildTrigger(
        id="t-export",
        name="deploy-phase6-export",
        github=cloudbuild_v1.GitHubEventsConfig(push=cloudbuild_v1.PushFilter(branch="^main$")),
        included_files=["export/**"],
    )
    green = [
        cloudbuild_v1.Build(
            id=f"b-{k}",
            status=cloudbuild_v1.Build.Status.SUCCESS,
            build_trigger_id="t-export",
            substitutions={"COMMIT_SHA": built, "SHORT_SHA": built[:7]},
            create_time=DEMO_START - timedelta(days=k),
        )
        for k in range(5)
    ]
    loopback.grpc.triggers[parent] = [stuck]
    loopback.grpc.builds[parent] = green
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        stale = walkthrough_check(config, gcp, DAY, "cloud_build")
        loopback.grpc.deny_on = {("ListBuildTriggers", parent)}
        denied = walkthrough_check(config, gcp, DAY, "cloud_build")
    finally:
        loopback.grpc.triggers[parent], loopback.grpc.builds[parent] = kept_triggers, kept_builds
        loopback.grpc.deny_on = set()
        gcp.close()
    assert stale.status.value == "fail"
    assert f"deploy-phase6-export: built {built[:7]}; 1 commit to its files on main" in (
        stale.evidence
    )
    assert f"({newer[:7]})" in stale.evidence
    assert denied.status.value == "unknown" and "permission denied" in denied.evidence.lower()
