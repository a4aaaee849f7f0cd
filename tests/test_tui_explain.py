"""`x`: the chain of evidence from what is under the cursor to its cause, in the dashboard
and the walkthrough. Asserted on the screen's text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from tui_helpers import SIZE, make_app, reads, screen_lines, settle, wait_for

from orchwatch.cli import _demo_deploys
from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.app import OrchwatchApp
from orchwatch.tui.screens.explain import ExplainScreen
from orchwatch.validate.demo_repo import commit_history, write_demo_repo

ROOT = (
    "Root cause: the module shared.validation.phase3_data_quality_check is missing from "
    "phase3_to_phase4's package"
)


def with_repo(config: Config, tmp_path: Path) -> Config:
    repo = tmp_path / "repo"
    write_demo_repo(repo)
    commit_history(repo, _demo_deploys())
    return replace(config, repo_path=repo)


async def explained(pilot, app: OrchwatchApp) -> ExplainScreen:  # type: ignore[no-untyped-def]
    await wait_for(
        pilot,
        lambda: isinstance(app.screen, ExplainScreen) and app.screen.explanation is not None,
    )
    await settle(pilot)
    assert isinstance(app.screen, ExplainScreen)
    return app.screen


@pytest.mark.parametrize("size", [(80, 24), (200, 55)])
async def test_the_root_cause_of_phase3_is_one_key_from_the_first_screen(
    config: Config, demo: Sources, tmp_path: Path, size: tuple[int, int]
) -> None:
    """The grid opens on the phase that needs attention; `x` names the missing module."""
    app = make_app(with_repo(config, tmp_path), demo)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await settle(pilot)
        await pilot.press("x")
        screen = await explained(pilot, app)
        assert reads(screen_lines(app), ROOT, depth=4), "\n".join(screen_lines(app))
        assert screen.explanation is not None
        assert screen.explanation.subject == "2026-02-01 phase3"
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ExplainScreen)


async def test_x_on_a_processor_a_service_and_a_group(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        grid = app.dashboard.completions.grid
        status = grid.status
        assert status is not None
        phase3 = status.phase("phase3")
        row = 3 + next(
            i for i, c in enumerate(phase3.cells) if c.processor == "team_defense_game_summary"
        )
        grid.move_cursor(row=row, column=grid.get_column_index("phase3"))
        await settle(pilot)
        await pilot.press("x")
        screen = await explained(pilot, app)
        assert screen.explanation is not None
        text = "\n".join(screen_lines(app))
        assert "team_defense_game_summary: untracked" in text
        assert reads(screen_lines(app), "BigQuery has team_defense_game_summary's completion")
        # No repo: the chain says the package was not checked and ends at the logs.
        assert "Root cause: phase3-to-phase4-orchestrator logged" in text
        await pilot.press("escape", "2", "x")
        screen = await explained(pilot, app)
        assert screen.explanation is not None
        assert screen.explanation.subject == "phase3-to-phase4-orchestrator"
        await pilot.press("escape", "3", "x")
        screen = await explained(pilot, app)
        assert screen.explanation is not None
        assert screen.explanation.links[0].kind == "errors"
        assert screen.explanation.subject.startswith("ModuleNotFoundError: No module named")
        await pilot.press("escape", "l", "x")  # the tail: says where x works
        await settle(pilot)
        assert not isinstance(app.screen, ExplainScreen)
        assert any("x explains a grid cell" in str(n.message) for n in app._notifications)


async def test_x_on_a_blocked_check_of_the_walkthrough(config: Config, demo: Sources) -> None:
    from orchwatch.tui.screens.daily import DailyScreen

    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("w")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, DailyScreen)
                and any(r.status.value == "blocked" for r in app.screen.results)
            ),
        )
        daily = app.screen
        assert isinstance(daily, DailyScreen)
        row = next(
            i
            for i, r in enumerate(daily.results)
            if r.status.value == "blocked" and r.target and r.target.key == "phase4"
        )
        daily.query_one("#daily-table").move_cursor(row=row)  # type: ignore[attr-defined]
        await pilot.press("x")
        screen = await explained(pilot, app)
        assert screen.explanation is not None
        assert screen.explanation.links[0].summary == (
            "phase4 never ran: phase3 never triggered phase4"
        )


async def test_the_timeline_screen_scrolls_zooms_and_opens_an_event(
    config: Config, demo: Sources
) -> None:
    from textual.widgets import DataTable

    from orchwatch.tui.screens.timeline import TimelineScreen

    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("T")
        await wait_for(
            pilot, lambda: isinstance(app.screen, TimelineScreen) and app.screen.line is not None
        )
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TimelineScreen) and screen.line is not None
        whole = len(screen.shown)
        assert whole == len(screen.line.events) > 10
        text = "\n".join(screen_lines(app))
        assert "Timeline · 2026-02-01 (Sun)" in text
        assert "01-29 20:39  ✗  Cloud Run      phase3-to-phase4-orchestrator 00026 FAILED" in text
        table = screen.query_one("#timeline-table", DataTable)
        await pilot.press("end", "plus", "plus")
        await settle(pilot)
        assert 0 < len(screen.shown) < whole
        assert "1 h around the cursor" in "\n".join(screen_lines(app))
        assert table.cursor_row == len(screen.shown) - 1  # still on the same (last) event
        await pilot.press("minus", "minus")
        await settle(pilot)
        assert len(screen.shown) == whole
        await pilot.press("home", "enter")
        await settle(pilot)
        # the first event: the crash-looping 00025's creation (the incident still open)
        first = screen.shown[0]
        assert (first.subject, first.kind) == ("phase3-to-phase4-orchestrator", "revision")
        assert any("00025 created" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, TimelineScreen)
