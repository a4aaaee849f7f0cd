"""Pilot tests of the revisions pane, the history and the revision detail."""

from __future__ import annotations

from collections.abc import Sequence

from tui_helpers import SIZE, make_app, settle, static_text, wait_for

from orchwatch.config import Config
from orchwatch.model import ServiceState
from orchwatch.sources.base import SourceError, Sources
from orchwatch.tui.screens.revisions import RevisionDetailScreen, RevisionHistoryScreen
from orchwatch.tui.widgets.completion_grid import CompletionGrid
from orchwatch.tui.widgets.revisions import ServiceTable
from orchwatch.tui.widgets.status_bar import StatusBar


def rows(app) -> list[list[str]]:  # type: ignore[no-untyped-def]
    table = app.query_one(ServiceTable)
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def services(app) -> list[str]:  # type: ignore[no-untyped-def]
    """The services of the rows, in order (the name on show may be cut to fit)."""
    return [str(row.key.value) for row in app.query_one(ServiceTable).ordered_rows]


async def test_stuck_service_is_first_with_its_reason_without_a_key(
    config: Config, demo: Sources
) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = rows(app)[0]
        assert first[0] == "✗" and services(app)[0] == "phase3-to-phase4-orchestrator"
        assert first[1].startswith("phase3-to-phase4")  # cut to leave the verdict room
        # 00025 still takes the traffic and crash-loops on the same missing module
        assert first[2].startswith("CRASHING 00025 · ")
        assert "1 need attention" in str(app.query_one("#revisions").border_title)
        # Side by side the verdict wraps into the rows the pane has free (whole, not cut).
        assert "CRASHING 00025 · latest 00026 FAILED 57 h ago" in " ".join(first[2].split())
        await pilot.press("2", "z")
        await settle(pilot)
        first = rows(app)[0]
        assert "latest 00026 FAILED" in first[2] and "ModuleNotFoundError in the last" in first[2]


async def test_history_and_revision_detail(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one(ServiceTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RevisionHistoryScreen))
        assert isinstance(app.screen, RevisionHistoryScreen)
        history = app.screen.query_one("#history-table")
        first, second = history.row_plain(0), history.row_plain(1)
        assert first[0] == "00026" and first[5] == "✗ failed" and first[6] == ""
        # one marker a revision: it serves because 00026 failed, and it crash-loops
        assert second[0] == "00025" and second[5] == "↻ crashing" and second[6] == "100%"
        await pilot.press("enter")  # the failed revision
        await wait_for(pilot, lambda: isinstance(app.screen, RevisionDetailScreen))
        assert isinstance(app.screen, RevisionDetailScreen)
        text = static_text(app.screen)
        assert "HealthCheckContainerError" in text
        assert "Differences from the serving revision 00025" in text
        assert "never took traffic" in text
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert not isinstance(app.screen, (RevisionDetailScreen, RevisionHistoryScreen))


async def test_selecting_a_phase_highlights_its_orchestrator(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        grid = app.query_one(CompletionGrid)
        grid.move_cursor(row=3, column=grid.get_column_index("phase2"))
        await settle(pilot)
        table = app.query_one(ServiceTable)
        assert services(app)[table.cursor_row] == "phase2-to-phase3-orchestrator"
        grid.move_cursor(row=3, column=grid.get_column_index("phase3"))
        await settle(pilot)
        assert services(app)[table.cursor_row] == "phase3-to-phase4-orchestrator"


class DownRevisions:
    def fetch_services(self, names: Sequence[str]) -> list[ServiceState]:
        raise SourceError("PERMISSION_DENIED: run.services.list (needs roles/run.viewer)")


async def test_failing_revisions_leave_completions_working(config: Config, demo: Sources) -> None:
    demo.revisions = DownRevisions()
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.query_one("#revisions")
        assert pane.has_class("-error")
        assert "roles/run.viewer" in str(pane.border_subtitle)
        assert not app.query_one("#completions").has_class("-error")
        assert app.query_one(CompletionGrid).row_count > 3


class DownCompletions:
    """A completion store that cannot be reached."""

    def __getattr__(self, name: str) -> object:
        def fail(*args: object, **kwargs: object) -> object:
            if name == "watch_date":
                return None
            raise SourceError("Firestore unavailable: connection refused")

        return fail


async def test_failing_completions_leave_revisions_and_logs_working(
    config: Config, demo: Sources
) -> None:
    demo.completions = DownCompletions()  # type: ignore[assignment]
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        assert await wait_for(pilot, lambda: app.dashboard.panes_ready)
        await settle(pilot)
        completions = app.query_one("#completions")
        assert completions.has_class("-error")
        assert "Firestore unavailable" in str(completions.border_subtitle)
        assert services(app)[0] == "phase3-to-phase4-orchestrator"
        assert not app.query_one("#revisions").has_class("-error")
        assert not app.query_one("#logs").has_class("-error")
        assert app.query_one(StatusBar).problem == "completions unavailable"


async def test_the_grid_phase_underlines_its_orchestrator_as_the_cursor_moves(
    config: Config, demo: Sources
) -> None:
    # The underline is a change of style only: the cell's text stays the same, so an
    # incremental update that compared text alone left it on the first orchestrator.
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        grid = app.query_one(CompletionGrid)
        table = app.query_one(ServiceTable)
        grid.focus()

        def underlined() -> list[str]:
            return [
                service
                for i, service in enumerate(services(app))
                if "underline" in str(table.get_row_at(i)[1].style)
            ]

        for column in range(len(grid.columns)):
            grid.move_cursor(row=0, column=column)
            await settle(pilot)
            phase = str(grid.ordered_columns[column].key.value)
            orchestrator = config.phase(phase).orchestrator
            expected = [orchestrator] if orchestrator in services(app) else []
            assert underlined() == expected, (phase, underlined())


async def test_the_demos_crash_looping_ready_revision_is_never_shown_healthy(
    config: Config, demo: Sources
) -> None:
    """00027 turns Ready at 04:28 Pacific (a minute into the live demo, an hour of its
    time) and keeps crash-looping: its Ready condition alone would call the service
    healthy; its logs make it CRASHING, first in the table."""
    from datetime import timedelta

    from orchwatch.clock import FrozenClock

    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        clock = demo.clock
        assert isinstance(clock, FrozenClock)
        clock.advance(timedelta(minutes=80))  # 03:30 -> 04:50 Pacific
        dashboard = app.dashboard
        dashboard.revisions.refresh_now()
        await settle(pilot)
        dashboard.logs.refresh_now()
        await settle(pilot)
        view = dashboard.revisions.view
        assert view is not None
        verdict = view.verdict("phase3-to-phase4-orchestrator")
        assert verdict is not None and verdict.serving is not None
        assert "-00027-" in verdict.serving.name  # Ready and serving, as Cloud Run says
        assert verdict.text.startswith("CRASHING 00027 · ")
        assert "since it started serving" in verdict.text
        assert "healthy" not in verdict.text
        first = rows(app)[0]
        assert services(app)[0] == "phase3-to-phase4-orchestrator" and first[0] == "✗"
        assert first[2].startswith("CRASHING 00027")
