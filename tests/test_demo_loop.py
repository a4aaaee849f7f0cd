"""The demo closes the loop: fix the symlink, validate clean, deploy, and the new revision
is Ready, the crash loop stops; the replay of the dropped completions completes phase 3
and triggers phase 4."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from tui_helpers import SIZE, make_app, settle, wait_for, wait_for_finished_runs

from orchwatch.actions.audit import read_audit
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.app import OrchwatchApp
from orchwatch.tui.screens.confirm_deploy import ConfirmDeployScreen
from orchwatch.tui.widgets.logs import ErrorGroupTable
from orchwatch.tui.widgets.revisions import ServiceTable
from orchwatch.validate.cache import FactsCache
from orchwatch.validate.demo_repo import write_demo_repo
from orchwatch.validate.engine import validate_repo

SERVICE = "phase3-to-phase4-orchestrator"
SCRIPT = ["bash", "bin/orchestrators/deploy_{function}.sh"]


def demo_repo(tmp_path: Path, fixed: bool) -> Path:
    repo = tmp_path / "repo"
    write_demo_repo(repo)
    if fixed:
        os.symlink(
            "../../../../../shared/validation/phase3_data_quality_check.py",
            repo
            / "orchestration/cloud_functions/phase3_to_phase4/shared/validation/phase3_data_quality_check.py",
        )
    return repo


def the_demo_repo_validates_the_deploy_scripts_cleanly(repo: Path) -> None:
    report = validate_repo(repo, only="phase3_to_phase4", cache=FactsCache())
    assert report.functions[0].ok, report.findings


async def deploy(pilot, app: OrchwatchApp, typed: bool) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    table = app.dashboard.query_one(ServiceTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(SERVICE))
    await pilot.press("d")
    assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDeployScreen))
    if typed:
        await pilot.press(*SERVICE, "enter")
    else:
        await pilot.press("enter")
    await wait_for_finished_runs(pilot, app.audit.path)


async def later(pilot, app: OrchwatchApp, minutes: int) -> None:  # type: ignore[no-untyped-def]
    clock = app.sources.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(minutes=minutes))
    for group in ("completions", "revisions", "logs"):
        getattr(app.dashboard, group).refresh_now()
    await settle(pilot)


async def announced(pilot, app: OrchwatchApp, text: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether orchwatch announced `text`, refreshing the revisions a few times (under load
    the refresh that sees the new revision can come a little later)."""
    for _ in range(10):
        if any(text in a for a in app.dashboard.actions.announcements):
            return True
        app.dashboard.revisions.refresh_now()
        await settle(pilot)
    return False


def crash_groups(app: OrchwatchApp, exception: str = "ModuleNotFoundError") -> int:
    """The count shown for the group of `exception` (0 when it has none)."""
    table = app.dashboard.query_one(ErrorGroupTable)
    for row in table.ordered_rows:
        group = next(g for g in app.dashboard.logs.groups if g.fingerprint == row.key.value)
        if group.exception_type == exception:
            return int(table.get_row(row.key)[0].plain)
    return 0


async def test_fix_validate_deploy_and_the_pipeline_recovers(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    repo = demo_repo(tmp_path, fixed=True)
    the_demo_repo_validates_the_deploy_scripts_cleanly(repo)
    cfg = replace(config, repo_path=repo, deploy_commands={SERVICE: tuple(SCRIPT)})
    app = make_app(cfg, demo, allow_actions=True, audit_path=tmp_path / "audit.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await later(pilot, app, 62)  # 00027 has landed; the crash loop goes on
        await deploy(pilot, app, typed=False)
        assert "exit 0" in str(app.dashboard.query_one("#actions-status").render())
        await later(pilot, app, 2)  # the new revision becomes Ready
        verdict = next(v for v in app.dashboard.revisions.view.verdicts if v.service == SERVICE)
        assert verdict.serving is not None and verdict.serving.name.startswith(f"{SERVICE}-00028-")
        assert await announced(pilot, app, "00028 is Ready and serving")
        before = crash_groups(app)
        assert before > 0
        await later(pilot, app, 30)
        assert crash_groups(app) == before  # the crash loop stopped
        grid = app.dashboard.query_one("#grid")
        # The fix does not bring back what was dropped: only a replay does.
        assert grid.get_cell("counts", "phase3").plain.startswith("Firestore 3/5")
        assert not grid.get_cell("trigger", "phase3").plain.startswith("✓")
        await replay(pilot, app, "phase3")
        await later(pilot, app, 1)
        assert grid.get_cell("counts", "phase3").plain.startswith("Firestore 5/5")
        assert grid.get_cell("trigger", "phase3").plain.startswith("✓ → phase4 at")
        entries = read_audit(app.audit.path)[0]
        assert [(e.started["action"], e.outcome) for e in entries][-1] == ("replay", "exit 0")
        output = "\n".join(app.dashboard.actions.output)
        assert "published 2 messages to nba-phase3-analytics-complete" in output
        assert "Firestore phase3 2026-02-01: 5/5" in output
        assert "phase4 triggered" in output


async def replay(pilot, app: OrchwatchApp, phase: str) -> None:  # type: ignore[no-untyped-def]
    """R on the grid, every message previewed, the phase's name typed, the run's end."""
    from orchwatch.tui.screens.confirm_replay import ConfirmReplayScreen

    app.dashboard.completions.show_phase(phase)
    await pilot.press("R")
    assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmReplayScreen))
    screen = app.screen
    assert isinstance(screen, ConfirmReplayScreen) and screen.plan.runnable
    assert len(screen.plan.messages) == 2
    runs = len(read_audit(app.audit.path)[0]) if app.audit.path.exists() else 0
    await pilot.press(*phase, "enter")
    assert await wait_for(
        pilot,
        lambda: len([e for e in read_audit(app.audit.path)[0][runs:] if e.finished]) == 1,
    )


async def test_deploying_the_broken_package_gives_a_failed_revision(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    repo = demo_repo(tmp_path, fixed=False)
    cfg = replace(config, repo_path=repo, deploy_commands={SERVICE: tuple(SCRIPT)})
    app = make_app(cfg, demo, allow_actions=True, audit_path=tmp_path / "audit.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await later(pilot, app, 62)
        await deploy(pilot, app, typed=True)  # the validator finds errors: typed confirmation
        assert "exit 1" in str(app.dashboard.query_one("#actions-status").render())
        await later(pilot, app, 2)
        verdict = next(v for v in app.dashboard.revisions.view.verdicts if v.service == SERVICE)
        assert verdict.latest is not None and verdict.latest.name.startswith(f"{SERVICE}-00028-")
        assert verdict.serving is not None and verdict.serving.name.startswith(f"{SERVICE}-00027-")
        assert await announced(pilot, app, "00028 failed")
        assert date(2026, 2, 1)


LOOPING = "auto-backfill-orchestrator"


async def test_b_rolls_a_crash_looping_deploy_back_to_the_clean_revision(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    """Three hours in, auto-backfill-orchestrator's 00017 turns Ready and crash-loops;
    00016 served cleanly before it. `b` previews, takes the typed name, runs, audits, and
    00016 takes the traffic; the crash loop stops. The main incident's older revision
    crash-looped too: no rollback is offered there."""
    from orchwatch.actions.audit import read_audit
    from orchwatch.tui.screens.confirm_rollback import ConfirmRollbackScreen

    app = make_app(config, demo, allow_actions=True, audit_path=tmp_path / "audit.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await later(pilot, app, 60)
        await later(pilot, app, 60)
        await later(pilot, app, 60)
        await later(pilot, app, 20)  # 00017 has crash-looped for about 20 minutes
        table = app.dashboard.query_one(ServiceTable)
        assert await wait_for(
            pilot, lambda: LOOPING in {str(r.key.value) for r in table.ordered_rows}
        )
        verdict = app.dashboard.revisions.view.verdict(LOOPING)
        assert verdict is not None and verdict.text.startswith("CRASHING 00017")
        before = crash_groups(app, "ImportError")
        assert before > 0

        table.focus()
        table.move_cursor(row=table.get_row_index(SERVICE))
        await pilot.press("b")  # the main incident: 00025 crash-looped too
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmRollbackScreen)
        assert any("No rollback for " + SERVICE in str(n.message) for n in app._notifications)

        table.move_cursor(row=table.get_row_index(LOOPING))
        await pilot.press("b")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmRollbackScreen))
        await pilot.press("enter")  # nothing typed: it says what it expects
        await settle(pilot)
        assert isinstance(app.screen, ConfirmRollbackScreen)
        await pilot.press(*LOOPING, "enter")
        await wait_for_finished_runs(pilot, app.audit.path)
        assert "rollback auto-backfill-orchestrator: exit 0" in str(
            app.dashboard.query_one("#actions-status").render()
        )
        entry = read_audit(app.audit.path)[0][-1]
        assert (entry.started["action"], entry.started["service"]) == ("rollback", LOOPING)
        assert entry.outcome == "exit 0"
        await later(pilot, app, 1)  # the traffic moves
        assert await announced(pilot, app, "00016 takes the traffic")
        verdict = app.dashboard.revisions.view.verdict(LOOPING)
        assert verdict is not None and verdict.serving is not None
        assert verdict.serving.name.startswith(f"{LOOPING}-00016-")
        stopped = crash_groups(app, "ImportError")
        await later(pilot, app, 30)
        assert crash_groups(app, "ImportError") == stopped  # the crash loop stopped
