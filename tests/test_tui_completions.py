"""Pilot tests of the completion pane: what the on-call engineer sees and can do."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from tui_helpers import SIZE, make_app, settle, static_text, wait_for

from orchwatch.config import Config
from orchwatch.model import DateCompletions
from orchwatch.sources.base import SourceError, Sources
from orchwatch.tui.screens.completion_detail import CellDetailScreen, PhaseDetailScreen
from orchwatch.tui.screens.goto_date import GotoDateScreen
from orchwatch.tui.screens.help import HelpScreen
from orchwatch.tui.widgets.completion_grid import CompletionGrid
from orchwatch.tui.widgets.overview import OverviewStrip
from orchwatch.tui.widgets.status_bar import StatusBar


def grid_text(app) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    grid = app.query_one(CompletionGrid)
    return {
        (str(row.value), str(column.value)): grid.get_cell(row, column).plain
        for row in grid.rows
        for column in grid.columns
    }


async def test_opens_on_today_with_the_incident_visible(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.dashboard.selected_date == date(2026, 2, 1)
        cells = grid_text(app)
        assert cells[("counts", "phase3")] == "Firestore 3/5 ≠ BigQuery 5/5"
        assert cells[("trigger", "phase3")] == "✗ → phase4 NOT triggered"
        untracked = [
            text for (row, col), text in cells.items() if col == "phase3" and "untracked" in text
        ]
        assert len(untracked) == 2
        assert any(text.startswith("◐ team_defense_game_summary") for text in untracked)
        team = next(t for (r, c), t in cells.items() if "upcoming_team_game_context" in t)
        assert team.startswith("✓") and "untracked" not in team
        assert "updated 0 s ago" in app.query_one(StatusBar).render().plain


async def test_date_navigation_keys(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("p", "p", "p", "p", "p", "p", "p", "p")
        await settle(pilot)
        assert app.dashboard.selected_date == date(2026, 1, 24)
        cells = grid_text(app)
        assert cells[("p0", "phase2")].startswith("✗ p2_bdl_box_scores")
        await pilot.press("n")
        await settle(pilot)
        assert app.dashboard.selected_date == date(2026, 1, 25)
        await pilot.press("t")
        await settle(pilot)
        assert app.dashboard.selected_date == date(2026, 2, 1)


async def test_go_to_date_dialog_validates_and_selects(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, GotoDateScreen))
        assert isinstance(app.screen, GotoDateScreen)
        await pilot.press("home", "ctrl+k", *"[bold]nope", "enter")
        await settle(pilot)
        error = app.screen.query_one("#goto-error")
        assert "'[bold]nope' is not a date" in str(error.render())
        await pilot.press("home", "ctrl+k", *"2026-01-28", "enter")
        await settle(pilot)
        assert not isinstance(app.screen, GotoDateScreen)
        assert app.dashboard.selected_date == date(2026, 1, 28)
        assert re.fullmatch(
            r"✓ → phase4 at \d\d:\d\d \(all_complete\)",
            grid_text(app)[("trigger", "phase3")],
        )


async def test_enter_on_a_cell_opens_both_stores_records(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        grid = app.query_one(CompletionGrid)
        grid.move_cursor(row=grid.get_row_index("p1"), column=grid.get_column_index("phase3"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CellDetailScreen))
        assert isinstance(app.screen, CellDetailScreen)
        text = static_text(app.screen)
        assert "team_defense_game_summary" in text
        assert "untracked" in text
        assert "Firestore has no completion" in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CellDetailScreen)


async def test_enter_on_a_phase_header_opens_the_document(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        grid = app.query_one(CompletionGrid)
        grid.move_cursor(row=grid.get_row_index("trigger"), column=grid.get_column_index("phase3"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PhaseDetailScreen))
        assert isinstance(app.screen, PhaseDetailScreen)


async def test_overview_selects_a_date(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        overview = app.query_one(OverviewStrip)
        overview.focus()
        assert overview.get_cell("phase3", "2026-01-31").plain == "◐3/5"
        overview.move_cursor(row=0, column=overview.get_column_index("2026-01-31"))
        await pilot.press("enter")
        await settle(pilot)
        assert app.dashboard.selected_date == date(2026, 1, 31)


async def test_help_lists_bindings_and_legend(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert isinstance(app.screen, HelpScreen)
        text = static_text(app.screen)
        for expected in (
            "Prev date",
            "Go to date",
            "untracked: BigQuery has it, Firestore does not",
            "Revision markers",
            "↻ crashing",
            "its logs show it exiting again and again",
            "arrows / j k",
        ):
            assert expected in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)


class FailingCompletions:
    """A source whose store is down: every read raises."""

    def fetch_completions(self, dates: Sequence[date]) -> dict[date, DateCompletions]:
        raise SourceError("permission denied on phase3_completion")

    def fetch_failed_queue(self, game_date: date) -> list[object]:
        raise SourceError("unreachable")

    def fetch_execution_log(self, game_date: date) -> list[object]:
        raise SourceError("unreachable")


async def test_failing_source_shows_an_error_state(config: Config, demo: Sources) -> None:
    demo.completions = FailingCompletions()  # type: ignore[assignment]
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.query_one("#completions")
        assert pane.has_class("-error")
        assert "permission denied on phase3_completion" in str(pane.border_subtitle)
        assert "completions unavailable" in app.query_one(StatusBar).render().plain
        assert app.is_running


async def test_the_status_bar_tells_stale_data_from_every_pane(
    config: Config, demo: Sources
) -> None:
    """A read that hangs never errors: the age of the oldest pane's data says it."""
    now = [0.0]
    app = make_app(config, demo, wall=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.dashboard.update_status()
        bar = app.dashboard.query_one(StatusBar)
        assert "⚠" not in str(bar.render()) and "updated 0 s ago" in str(bar.render())
        now[0] = 6 * 3600.0  # six hours on, no pane has read anything since
        app.dashboard.update_status()
        text = str(bar.render())
        assert "updated 6 h ago" in text
        assert "completions stale (6 h)" in text and "revisions stale" in text


async def test_vi_keys_move_in_every_list_and_slash_outside_a_list_says_where_it_works(
    config: Config, demo: Sources
) -> None:
    from orchwatch.tui.panes.logs import LogsPane
    from orchwatch.tui.widgets.logs import ErrorGroupTable
    from orchwatch.tui.widgets.revisions import ServiceTable

    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        grid = app.query_one(CompletionGrid)
        start = grid.cursor_coordinate
        await pilot.press("j", "l")
        await settle(pilot)
        assert grid.cursor_coordinate == (start.row + 1, start.column + 1)
        await pilot.press("k", "h")
        await settle(pilot)
        assert grid.cursor_coordinate == start
        await pilot.press("2", "j")
        await settle(pilot)
        services = app.query_one(ServiceTable)
        assert app.focused is services
        row = services.cursor_row
        await pilot.press("k")
        await settle(pilot)
        assert services.cursor_row == row - 1
        await pilot.press("1", "slash")  # the grid has no filter: it says where / works
        await settle(pilot)
        assert any("/ filters a list: press 2" in str(n.message) for n in app._notifications)
        await pilot.press("3", "j")
        await settle(pilot)
        assert app.focused is app.query_one(ErrorGroupTable)
        assert app.query_one(ErrorGroupTable).cursor_row == 1
        await pilot.press("l", "slash")  # in the tail, / opens the search
        await settle(pilot)
        assert app.query_one(LogsPane).mode == "tail"
        assert app.focused is app.query_one("#logs-search")


async def test_a_date_outside_the_data_says_so(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        title = str(app.query_one("#completions").border_title)
        assert "no data" not in title
        app.dashboard.selected_date = date(2025, 6, 1)
        await settle(pilot)
        title = str(app.query_one("#completions").border_title)
        assert title.endswith(
            "2025-06-01 (Sun) · not held by demo (frozen): its dates are 2026-01-19 to 2026-02-03"
        )


async def test_the_grid_marks_phases_blocked_by_a_missing_trigger(
    config: Config, demo: Sources
) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        cells = grid_text(app)
        assert cells[("trigger", "phase3")] == "✗ → phase4 NOT triggered"  # the one failure
        assert cells[("trigger", "phase4")] == "⊘ blocked by phase3"
        assert cells[("trigger", "phase5")] == "⊘ blocked by phase3"
        app.dashboard.selected_date = date(2026, 1, 27)  # a healthy date: nothing blocked
        await settle(pilot)
        assert not [t for (row, _), t in grid_text(app).items() if "blocked" in t]
