"""The dashboard on real terminal sizes: below 100x30 one pane at a time, full screen
(1 2 3 switch); `z` zooms the focused pane on a larger one; resizes keep the selected date
in view. Asserted on the screen's text, as the user reads it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from settle import wait_workers
from textual.widgets import Log
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
        assert "p2_bdl_box_" in screen(app)  # the processors, not only the phases
        await pilot.press("2")
        await settle(pilot)
        assert shown(app) == {"revisions"}
        row = next(line for line in screen_lines(app) if "phase3-to-phase4" in line)
        assert "CRASHING 00025 · latest 00026 FAILED" in row  # the state, then the failed fix
        assert reads(screen_lines(app), "ModuleNotFoundError: No module named")  # below, the cause
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
    """The failed revision's FAILED and the start of its reason (its logs' cause), the crash
    loop's message up to the module, and PAUSED in the tail, at each size (1 2 3 bring a
    pane forward where only one shows)."""
    app = make_app(config, demo)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("2")
        await settle(pilot)
        lines = screen_lines(app)
        assert reads(lines, "CRASHING 00025 · latest 00026 FAILED"), "\n".join(lines)
        # the reason leads with the cause the revision's logs name
        assert reads(lines, "ModuleNotFoundError: No module named"), "\n".join(lines)
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
        row = [line for line in screen_lines(app) if "No module named" in line][-1]  # the logs
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


async def test_80x24_keeps_every_phase_the_verdicts_and_the_keys(
    config: Config, demo: Sources
) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        text = screen(app)
        for phase in ("phase2 raw", "phase3 analytics", "phase4 precompute", "phase5 predictions"):
            assert phase in text, phase
        assert "✗ NOT triggered" in text and "⊘ blocked" in text  # state words whole
        assert "◐ upc… untracked" in text  # a name is cut before a state word is
        assert "? Help" in text and "q Quit" in text
        top = screen_lines(app)[0]
        assert "2026-02-01 (Sun)" in top and "now 06:30" in top and "updated" in top
        assert "not due" in text  # the legend wraps instead of being cut


async def test_a_resize_round_trip_keeps_the_cursor_in_view(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        grid = app.dashboard.completions.grid
        grid.focus()
        grid.move_cursor(row=grid.row_count - 1, column=0)
        await settle(pilot)
        name = grid.get_cell_at(grid.cursor_coordinate).plain.split(" ")[1].rstrip("…")
        for size in ((200, 55), (80, 24)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
            assert name in screen(app), (size, name)


def _joined(cell: str) -> str:
    """A wrapped cell's text as one line: lines broken at a separator join without a space."""
    out = ""
    for line in cell.splitlines():
        line = line.strip()
        out += line if not out or out[-1] in "/.-_:" else f" {line}"
    return out


async def test_120x35_shows_the_missing_module_in_the_revisions_pane(
    config: Config, demo: Sources
) -> None:
    """The failed revision's reason leads with the cause its logs name, wrapped into the
    rows the pane has free, inside the column."""
    app = make_app(config, demo)
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        table = app.dashboard.revisions.table
        cell = table.get_cell("phase3-to-phase4-orchestrator", "verdict").plain
        assert (
            "ModuleNotFoundError: No module named 'shared.validation.phase3_data_quality_check'"
            in _joined(cell)
        )
        width = next(c.width for k, c in table.columns.items() if k.value == "verdict")
        assert all(len(line) <= width for line in cell.splitlines())


async def test_120x35_the_actions_pane_wraps_its_fixes_whole(
    config: Config, demo: Sources, tmp_path: Path
) -> None:
    from orchwatch.tui.panes.actions import ActionsPane

    repo = tmp_path / "repo"
    write_demo_repo(repo)
    app = make_app(
        replace(config, repo_path=repo), demo, allow_actions=True, audit_path=tmp_path / "a"
    )
    async with app.run_test(size=(120, 35)) as pilot:
        await wait_for(pilot, lambda: all(p.answered for p in app.dashboard.panes))
        await pilot.press("v")
        await wait_workers(app)
        await settle(pilot)
        pane = app.dashboard.query_one(ActionsPane)
        fixes = [line.strip() for line in pane.output if line.strip().startswith("fix: ")]
        assert fixes
        shown = "\n".join(screen_lines(app))
        log = pane.query_one(Log)
        log_lines = [str(line) for line in log.lines]
        assert all(len(line) < log.size.width for line in log_lines)  # nothing runs off
        joined = _joined("\n".join(line.strip() for line in log_lines))
        for fix in fixes:  # each fix whole once its wrapped lines are read together
            assert fix.replace(" ", "") in joined.replace(" ", ""), fix
        assert "functions failing" in shown  # the verdict wraps, not cut
