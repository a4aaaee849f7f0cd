"""The dashboard on real terminal sizes: below 100x30 one pane at a time, full screen
(1 2 3 switch); `z` zooms the focused pane on a larger one; resizes keep the selected date
in view. Asserted on the screen's text, as the user reads it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from settle import wait_workers
from tui_helpers import SIZE, make_app, reads, screen_lines, settle, wait_for

from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.app import OrchwatchApp
from orchwatch.tui.widgets.logs import ErrorGroupTable
from orchwatch.validate.demo_repo import write_demo_repo

MODULE_ERROR = "ModuleNotFoundError: No module named 'shared.validation.phase3_data_quality_check'"


def screen(app: OrchwatchApp) -> str:
    return "\n".join(screen_lines(app))


def shown(app: OrchwatchApp) -> set[str]:
    """Which panes' titles are on the screen."""
    text = screen(app)
    titles = {
        "completions": "─ Completions",
        "revisions": "─ Cloud Run revisions",
        "logs": "─ Logs",
    }
    return {name for name, title in titles.items() if title in text}


async def test_a_small_terminal_shows_one_pane_at_a_time(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await settle(pilot)
        assert shown(app) == {"completions"}
        assert "p2_bdl_box_scores" in screen(app)  # the processors, not only the phases
        await pilot.press("2")
        await settle(pilot)
        assert shown(app) == {"revisions"}
        row = next(line for line in screen_lines(app) if "phase3-to-phase4" in line)
        assert "CRASHING 00025 · latest 00026 FAILED" in row  # the state, then the failed fix
        assert reads(screen_lines(app), "HealthCheckContainerError: The user-provided")  # below
        assert app.focused is app.dashboard.revisions.table
        await pilot.press("3")
        await settle(pilot)
        assert shown(app) == {"logs"}
        assert reads(screen_lines(app), MODULE_ERROR)
        await pilot.press("z")  # nothing to zoom out to: it says why
        await settle(pilot)
        assert shown(app) == {"logs"}
        assert "one pane at a time" in str([n.message for n in app._notifications])
        await pilot.resize_terminal(160, 45)
        await settle(pilot)
        assert shown(app) == {"completions", "revisions", "logs"}
        assert app.focused is not None and app.dashboard.logs in app.focused.ancestors


@pytest.mark.parametrize("size", [(80, 24), (120, 35), (200, 55)])
async def test_what_carries_the_verdict_reads_at_every_size(
    config: Config, demo: Sources, size: tuple[int, int]
) -> None:
    """The failed revision's FAILED and the first 40 characters of its reason, the crash
    loop's message up to the module, and PAUSED in the tail, at each size (1 2 3 bring a
    pane forward where only one shows)."""
    app = make_app(config, demo)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("2")
        await settle(pilot)
        lines = screen_lines(app)
        assert reads(lines, "CRASHING 00025 · latest 00026 FAILED"), "\n".join(lines)
        assert reads(lines, "HealthCheckContainerError: The user-prov"), "\n".join(lines)
        await pilot.press("3")
        await settle(pilot)
        lines = screen_lines(app)
        # In one column over two lines, or in the exception and message columns.
        assert reads(lines, MODULE_ERROR) or reads(lines, MODULE_ERROR.replace(":", ""))
        await pilot.press("l", "space")
        await settle(pilot)
        status = next(line for line in screen_lines(app) if "· tail" in line)
        assert "PAUSED" in status, status


async def test_z_zooms_the_focused_pane_and_back(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("2", "z")
        await settle(pilot)
        assert shown(app) == {"revisions"}
        assert "latest 00026 FAILED" in screen(app)  # the room shows the whole verdict
        await pilot.press("1")  # another pane, still zoomed
        await settle(pilot)
        assert shown(app) == {"completions"}
        await pilot.press("z")
        await settle(pilot)
        assert shown(app) == {"completions", "revisions", "logs"}


async def test_the_selected_date_stays_in_the_strip_across_resizes(
    config: Config, demo: Sources
) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=(200, 55)) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        for width, height in ((80, 24), (120, 35), (80, 24), (200, 55)):
            await pilot.resize_terminal(width, height)
            await settle(pilot)
            strip = next(line for line in screen_lines(app) if "Sa 31" in line)
            assert "Su 01" in strip, (width, height, strip)
        # 200x55: the lower panes stacked, full width: the whole message and its services.
        row = next(line for line in screen_lines(app) if "No module named" in line)
        assert "No module named 'shared.validation.phase3_data_quality_check'" in row
        assert "phase3-to-phase4-orchestrator" in row


async def test_a_run_started_on_a_small_terminal_is_shown(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    write_demo_repo(repo)
    app = make_app(
        replace(config, repo_path=repo),
        demo,
        allow_actions=True,
        audit_path=tmp_path / "audit.jsonl",
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("2", "v")
        await wait_workers(app)
        await settle(pilot)
        assert "─ Actions · validation" in screen(app)  # the run, not the pane it started from
        assert "4 functions failing" in screen(app)
        await pilot.press("2")
        await settle(pilot)
        assert shown(app) == {"revisions"}


# --- the cursor ------------------------------------------------------------------------------


async def test_2_opens_on_the_service_that_needs_attention(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("h", "h", "h")  # the grid on phase2: its orchestrator is healthy
        await settle(pilot)
        table = app.dashboard.revisions.table
        assert table.ordered_rows[table.cursor_row].key.value == "phase2-to-phase3-orchestrator"
        await pilot.press("2")
        await settle(pilot)
        assert app.focused is table
        assert table.ordered_rows[table.cursor_row].key.value == "phase3-to-phase4-orchestrator"


async def test_the_cursor_keeps_its_group_when_the_groups_re_sort(
    config: Config, demo: Sources
) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("3", "down", "down")
        await settle(pilot)
        pane = app.dashboard.logs
        table = pane.query_one(ErrorGroupTable)
        chosen = pane.groups[table.cursor_row]
        assert table.cursor_row == 2
        now = app.dashboard.completions.now
        assert now is not None
        table.show(list(reversed(pane.groups)), now)  # a refresh that re-sorts the groups
        await settle(pilot)
        assert table.cursor_row == len(pane.groups) - 3
        row = table.get_row_at(table.cursor_row)
        assert table.ordered_rows[table.cursor_row].key.value == chosen.fingerprint
        assert row[1].plain.startswith(chosen.exception_type)
        assert row[0].plain == str(chosen.count)


# --- keys ------------------------------------------------------------------------------------


async def test_every_list_takes_j_k_home_and_end(config: Config, demo: Sources) -> None:
    """k9s and lazygit users move with j/k by reflex; Home and End go to a list's ends
    (DataTable's own Home/End move across columns, which a list has none worth)."""
    from textual.widgets import DataTable

    from orchwatch.tui.screens.daily import DailyScreen

    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))

        async def walk(table: DataTable[object]) -> None:
            assert table.row_count > 2
            await pilot.press("end")
            await settle(pilot)
            assert table.cursor_row == table.row_count - 1, table
            await pilot.press("home", "j", "j", "k")
            await settle(pilot)
            assert table.cursor_row == 1, table

        await pilot.press("2")
        await walk(app.dashboard.revisions.table)
        await pilot.press("3")
        await walk(app.dashboard.logs.query_one(ErrorGroupTable))
        await pilot.press("1")
        await walk(app.dashboard.completions.grid)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, DailyScreen))
        await settle(pilot)
        await walk(app.screen.query_one("#daily-table", DataTable))


# --- one displayed time zone -----------------------------------------------------------------


async def test_ui_timezone_changes_every_time_shown_and_no_date(
    config: Config, demo: Sources
) -> None:
    """`[ui] timezone` moves what is shown (the status bar's now, the trigger's time, the
    tail's times); business dates and deadlines stay in the pipeline's zone."""
    from zoneinfo import ZoneInfo

    app = make_app(replace(config, shown_zone=ZoneInfo("UTC")), demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await settle(pilot)
        text = screen(app)
        assert "now 2026-02-01 11:30 UTC" in text  # 06:30 in New York
        assert "date 2026-02-01 (Sun)" in text
        assert "→ phase3 at 09:55 (all_complete)" in text  # 04:55 in New York
        await pilot.press("3", "l")
        await settle(pilot)
        tail = [
            line.split("││")[-1]
            for line in screen_lines(app)
            if " ERRO " in line or " DEFA " in line  # tracebacks come with no severity
        ]
        times = [line.split()[0] for line in tail]
        assert times and all("09:00:00" <= t <= "11:30:00" for t in times), times  # 04:00…


async def test_slash_filters_the_services_and_the_error_groups(
    config: Config, demo: Sources
) -> None:
    """`/` narrows a list as the words are typed; Enter keeps the filter (named in the
    pane's title) and goes back to the list, Esc drops it."""
    from orchwatch.tui.widgets.list_filter import ListFilter

    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        services = app.dashboard.revisions.table
        total = services.row_count
        await pilot.press("2", "slash", *"rolled back")
        await settle(pilot)
        assert isinstance(app.focused, ListFilter)
        assert [row.key.value for row in services.ordered_rows] == ["self-heal"]
        await pilot.press("enter")
        await settle(pilot)
        assert app.focused is services
        assert f"/rolled back/ 1 of {total}" in screen(app)
        await pilot.press("slash", "escape")
        await settle(pilot)
        assert services.row_count == total and app.focused is services
        assert "/rolled back/" not in screen(app)

        groups = app.dashboard.logs.query_one(ErrorGroupTable)
        await pilot.press("3", "slash", *"KEYERROR", "enter")
        await settle(pilot)
        assert [row.key.value for row in groups.ordered_rows] == [
            g.fingerprint for g in app.dashboard.logs.groups if g.exception_type == "KeyError"
        ]
        assert "/KEYERROR/ 1 shown" in screen(app)
        assert app.focused is groups


async def test_esc_on_a_list_drops_its_kept_filter(config: Config, demo: Sources) -> None:
    """A filter kept with Enter is dropped by Esc on the list itself (no `/` first)."""
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        services = app.dashboard.revisions.table
        total = services.row_count
        await pilot.press("2", "slash", *"rolled back", "enter")
        await settle(pilot)
        assert services.row_count == 1 and app.focused is services
        await pilot.press("escape")
        await settle(pilot)
        assert services.row_count == total and app.focused is services
        assert "/rolled back/" not in screen(app)

        groups = app.dashboard.logs.query_one(ErrorGroupTable)
        shown = groups.row_count
        await pilot.press("3", "slash", *"KEYERROR", "enter")
        await settle(pilot)
        assert groups.row_count < shown and app.focused is groups
        await pilot.press("escape")
        await settle(pilot)
        assert groups.row_count == shown and app.focused is groups
        assert "/KEYERROR/" not in screen(app)


@pytest.mark.parametrize(("size", "whole"), [((200, 55), True), ((120, 35), False)])
async def test_the_tail_shows_a_service_whole_or_cut_with_an_ellipsis(
    config: Config, demo: Sources, size: tuple[int, int], whole: bool
) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("3", "l")
        await settle(pilot)
        lines = [line for line in screen_lines(app) if "phase3-to-phase4-orchestrat" in line]
        assert lines, "the crash loop's lines are in the tail"
        if whole:
            assert all("phase3-to-phase4-orchestrator " in line for line in lines)
        else:
            assert all("phase3-to-phase4-orchestrat…" in line for line in lines)
