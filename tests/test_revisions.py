"""Revision markers and service verdicts, table by table; drift against a real git repo."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchwatch.analysis.revisions import (
    Health,
    compute_drift,
    derive_markers,
    revision_differences,
    service_verdict,
    short_name,
    worst_first,
)
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.gather import gather_revisions, serving_behind
from orchwatch.model import Condition, ConditionState, Revision, ServiceState, TrafficStatus
from orchwatch.sources.base import Sources
from orchwatch.sources.local import LocalStore

NOW = datetime(2026, 2, 1, 12, tzinfo=UTC)
OK, FAIL, PEND = ConditionState.SUCCEEDED, ConditionState.FAILED, ConditionState.PENDING


def rev(
    n: int, state: ConditionState | None = OK, hours_ago: float | None = None, commit: str = ""
) -> Revision:
    conditions = (
        ()
        if state is None
        else (
            Condition(
                "Ready",
                state,
                "HealthCheckContainerError" if state is FAIL else "",
                "port 8080" if state is FAIL else "",
            ),
        )
    )
    return Revision(
        name=f"svc-{n:05d}-abc",
        service="svc",
        create_time=NOW - timedelta(hours=hours_ago if hours_ago is not None else 100 - n),
        labels={"commit-sha": commit} if commit else {},
        conditions=conditions,
    )


def service(
    revisions: list[Revision], traffic: dict[int, int], created: int, ready: int
) -> ServiceState:
    return ServiceState(
        name="svc",
        latest_created_revision=f"svc-{created:05d}-abc",
        latest_ready_revision=f"svc-{ready:05d}-abc",
        traffic=tuple(TrafficStatus(f"svc-{n:05d}-abc", p) for n, p in traffic.items()),
        revisions=tuple(revisions),
    )


@pytest.mark.parametrize(
    ("revisions", "traffic", "created", "ready", "markers", "health"),
    [
        # a healthy service: newest serves, older retired
        ([rev(1), rev(2)], {2: 100}, 2, 2, ["serving", "retired"], Health.OK),
        # the incident: newest failed, traffic kept on the previous one
        ([rev(25), rev(26, FAIL)], {25: 100}, 26, 25, ["failed", "stuck"], Health.BAD),
        # fixed: a newer Ready revision serves again; the failed one stays marked
        (
            [rev(25), rev(26, FAIL), rev(27)],
            {27: 100},
            27,
            27,
            ["serving", "failed", "retired"],
            Health.OK,
        ),
        # a deploy in progress: pending, the previous one serves (not stuck)
        ([rev(1), rev(2, PEND)], {1: 100}, 2, 1, ["pending", "serving"], Health.OK),
        # no Ready condition reported yet counts as pending
        ([rev(1), rev(2, None)], {1: 100}, 2, 1, ["pending", "serving"], Health.OK),
        # traffic moved back by hand: a newer Ready revision gets none
        ([rev(11), rev(12)], {11: 100}, 12, 12, ["retired", "rolled back"], Health.WARN),
        # a split: both take traffic
        ([rev(1), rev(2)], {1: 50, 2: 50}, 2, 2, ["serving", "serving"], Health.OK),
        # nothing takes traffic
        ([rev(1, FAIL)], {}, 1, 1, ["failed"], Health.BAD),
    ],
)
def test_markers_and_health(
    revisions: list[Revision],
    traffic: dict[int, int],
    created: int,
    ready: int,
    markers: list[str],
    health: Health,
) -> None:
    state = service(revisions, traffic, created, ready)
    rows = derive_markers(state)
    assert [r.marker.value for r in rows] == markers  # newest first
    assert service_verdict(state, NOW).health is health


def test_the_incident_verdict_reads_like_the_issue() -> None:
    state = service([rev(25, hours_ago=72), rev(26, FAIL, hours_ago=48)], {25: 100}, 26, 25)
    verdict = service_verdict(state, NOW)
    assert verdict.text == "serving 00025 (3 d) · latest 00026 FAILED 48 h ago"
    assert verdict.reason == "HealthCheckContainerError: port 8080"
    assert verdict.rows[1].reason == "a newer revision never became Ready"
    assert serving_behind(verdict)


def test_serving_the_latest_is_not_behind() -> None:
    verdict = service_verdict(service([rev(1), rev(2)], {2: 100}, 2, 2), NOW)
    assert not serving_behind(verdict)
    assert verdict.text.endswith("healthy")


def test_latest_created_not_ready_is_bad_even_without_revision_rows() -> None:
    state = ServiceState("svc", "svc-00002-abc", "svc-00001-abc", (), ())
    assert service_verdict(state, NOW).health is Health.BAD


def test_worst_first_orders_by_health_then_name() -> None:
    healthy = service_verdict(service([rev(1)], {1: 100}, 1, 1), NOW)
    bad = service_verdict(service([rev(1), rev(2, FAIL)], {1: 100}, 2, 1), NOW)
    warn = service_verdict(service([rev(1), rev(2)], {1: 100}, 2, 2), NOW)
    assert [v.health for v in worst_first([healthy, warn, bad])] == [
        Health.BAD,
        Health.WARN,
        Health.OK,
    ]


@pytest.mark.parametrize(
    ("ages_h", "behind", "stale"),
    [([], 0, False), ([2], 1, False), ([30, 2], 2, True)],
)
def test_drift(ages_h: list[int], behind: int, stale: bool) -> None:
    drift = compute_drift(
        [(f"c{i}", NOW - timedelta(hours=h)) for i, h in enumerate(ages_h)],
        NOW,
        timedelta(hours=24),
    )
    assert (drift.commits_behind, drift.stale) == (behind, stale)


def test_short_name_and_differences() -> None:
    assert short_name("phase3-to-phase4-orchestrator-00026-xyz") == "00026"
    assert short_name("odd") == "odd"
    a = replace(rev(1), image="img:1", env={"A": "1", "B": "2"}, labels={"commit-sha": "aa"})
    b = replace(rev(2), image="img:2", env={"A": "1"}, labels={"commit-sha": "bb"})
    assert revision_differences(a, b) == [
        ("image", "img:1", "img:2"),
        ("env B", "2", "—"),
        ("label commit-sha", "aa", "bb"),
    ]


def test_local_store_round_trip() -> None:
    store = LocalStore()
    failing = replace(rev(2, FAIL), env={"X": "1"}, labels={"commit-sha": "ab12"})
    for revision in (rev(1), failing):
        store.put_revision(revision)
    store.put_service("svc", failing.name, rev(1).name, [TrafficStatus(rev(1).name, 100)])
    [state] = store.fetch_services(["svc", "absent"])
    assert state.revisions == (failing, rev(1))
    assert state.traffic == (TrafficStatus(rev(1).name, 100),)
    assert state.latest_created_revision == failing.name


# --- drift against a real git repo ----------------------------------------------------------


def git(repo: Path, *args: str, when: datetime | None = None) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
        "PATH": "/usr/bin:/bin",
    }
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.isoformat()
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def commit_file(repo: Path, rel: str, text: str, when: datetime) -> str:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"change {rel}", when=when)
    return git(repo, "rev-parse", "HEAD")


def serving_sources(commit: str) -> Sources:
    """A store where phase3-to-phase4-orchestrator serves one revision labelled `commit`."""
    store = LocalStore()
    name = "phase3-to-phase4-orchestrator"
    serving = replace(
        rev(25), service=name, name=f"{name}-00025-abc", labels={"commit-sha": commit}
    )
    store.put_revision(serving)
    store.put_service(name, serving.name, serving.name, [TrafficStatus(serving.name, 100)])
    return Sources("file", "test", FrozenClock(NOW), store, revisions=store)


def test_drift_counts_commits_to_the_function_and_its_shared_links(
    tmp_path: Path, config: Config
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    folder = "orchestration/cloud_functions/phase3_to_phase4"
    deployed = commit_file(repo, f"{folder}/main.py", "v1", NOW - timedelta(days=5))
    (repo / "shared/validation").mkdir(parents=True)
    (repo / f"{folder}/shared").mkdir(parents=True)
    (repo / f"{folder}/shared/validation").symlink_to("../../../../shared/validation")
    commit_file(repo, "shared/validation/check.py", "v2", NOW - timedelta(hours=30))  # via the link
    commit_file(
        repo, "orchestration/cloud_functions/other/main.py", "x", NOW - timedelta(hours=20)
    )  # not ours
    commit_file(repo, f"{folder}/main.py", "v3", NOW - timedelta(hours=3))
    sources = serving_sources(deployed)
    view = gather_revisions(
        replace(config, repo_path=repo), sources, ["phase3-to-phase4-orchestrator"]
    )
    [verdict] = view.verdicts
    assert verdict.drift is not None
    assert (verdict.drift.commits_behind, verdict.drift.stale) == (2, True)
    assert verdict.text.endswith("2 commits behind")
    assert verdict.health is Health.WARN


def test_unknown_commit_is_a_note_not_a_crash(tmp_path: Path, config: Config) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    commit_file(repo, "orchestration/cloud_functions/phase3_to_phase4/main.py", "v1", NOW)
    sources = serving_sources("deadbeef")
    view = gather_revisions(
        replace(config, repo_path=repo), sources, ["phase3-to-phase4-orchestrator"]
    )
    assert view.verdicts[0].drift is None
    assert "git log failed" in view.drift_notes["phase3-to-phase4-orchestrator"]


def test_a_serving_revision_whose_ready_condition_failed_is_never_healthy() -> None:
    # Cloud Run routes to a revision that is no longer Ready (it failed after taking traffic).
    state = service([rev(24), rev(25, FAIL)], {25: 100}, created=25, ready=24)
    verdict = service_verdict(state, NOW)
    assert verdict.health is Health.BAD
    assert "serving 00025, whose Ready condition FAILED: HealthCheckContainerError" in verdict.text
    assert "healthy" not in verdict.text


def test_a_tagged_revision_without_traffic_is_a_preview_not_a_rollback() -> None:
    state = replace(
        service([rev(24), rev(25)], {24: 100}, created=25, ready=25),
        traffic=(
            TrafficStatus("svc-00024-abc", 100),
            TrafficStatus("svc-00025-abc", 0, tag="canary"),
        ),
    )
    rows = derive_markers(state)
    assert [r.marker.value for r in rows] == ["retired", "serving"]
    verdict = service_verdict(state, NOW, rows=rows)
    assert verdict.health is Health.OK
    assert "preview 00025 (tag canary)" in verdict.text and "rolled back" not in verdict.text
    untagged = service([rev(24), rev(25)], {24: 100}, created=25, ready=25)
    assert "rolled back from 00025" in service_verdict(untagged, NOW).text  # still caught


def test_a_failed_terminal_condition_is_a_service_failure() -> None:
    state = replace(
        service([rev(25)], {25: 100}, created=25, ready=25),
        terminal_condition=Condition("Ready", FAIL, "RevisionFailed", "Revision is not ready"),
    )
    verdict = service_verdict(state, NOW)
    assert verdict.health is Health.BAD
    assert "service not ready (RevisionFailed: Revision is not ready)" in verdict.text


def test_pinned_traffic_warns_that_new_deploys_get_none() -> None:
    following = service([rev(24), rev(25)], {25: 100}, created=25, ready=25)
    assert service_verdict(following, NOW).health is Health.OK
    pinned = replace(following, pinned_to=("svc-00025-abc",))
    verdict = service_verdict(pinned, NOW)
    assert verdict.health is Health.WARN
    assert "pinned to 00025: new deploys will get no traffic" in verdict.text
    assert "reconciling" in service_verdict(replace(following, reconciling=True), NOW).text


@pytest.mark.parametrize(
    ("labels", "env", "image", "sources", "commit"),
    [
        ({"commit-sha": "abc1234"}, {}, "", None, "abc1234"),
        ({}, {"BUILD_COMMIT": "def5678"}, "", None, "def5678"),  # what the corpus's scripts set
        ({}, {}, "us-docker.pkg.dev/p/r/fn:0a1b2c3d", None, "0a1b2c3d"),
        ({}, {}, "us-docker.pkg.dev/p/r/fn:latest", None, None),  # not a commit
        ({"deployed": "fedcba9"}, {}, "", ("label:deployed",), "fedcba9"),
        ({"commit-sha": "abc1234"}, {}, "", ("env:BUILD_COMMIT",), None),
    ],
)
def test_the_commit_comes_from_a_label_an_env_var_or_the_image_tag(
    labels: dict[str, str],
    env: dict[str, str],
    image: str,
    sources: tuple[str, ...] | None,
    commit: str | None,
) -> None:
    revision = replace(rev(1), labels=labels, env=env, image=image)
    assert (revision.commit if sources is None else revision.commit_from(sources)) == commit


def test_no_commit_is_said_once_with_the_flags_that_put_one_there() -> None:
    from zoneinfo import ZoneInfo

    from orchwatch.gather import NO_COMMIT, RevisionsView
    from orchwatch.render import revisions_text

    a = service_verdict(service([rev(1)], {1: 100}, 1, 1), NOW)
    b = service_verdict(replace(service([rev(2)], {2: 100}, 2, 2), name="svc-b"), NOW)
    view = RevisionsView(NOW, (a, b), (), {"svc": NO_COMMIT, "svc-b": NO_COMMIT})
    text = revisions_text(view, ZoneInfo("UTC"))
    assert text.count("--update-labels=commit-sha=$(git rev-parse HEAD)") == 1
    assert "drift unknown for svc, svc-b: no commit on the serving revision" in text
    assert "--update-env-vars=BUILD_COMMIT=$(git rev-parse HEAD)" in text


def test_revisions_of_several_services_are_told_apart() -> None:
    from orchwatch.analysis.revisions import short_names

    one = ["svc-a-00025-abc", "svc-a-00026-def"]
    assert short_names(one) == "00025, 00026"
    two = ["svc-a-00007-abc", "svc-b-00007-xyz"]
    assert short_names(two) == "svc-a 00007, svc-b 00007"  # not "00007, 00007"
    assert short_names(["odd", "svc-a-00007-abc", "svc-b-00001-q"]) == (
        "odd, svc-a 00007, svc-b 00001"
    )
