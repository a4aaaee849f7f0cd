"""Pilot tests of the log pane: grouped errors, the tail, search, jump, hostile text."""

from __future__ import annotations

from datetime import timedelta

from tui_helpers import SIZE, make_app, screen_lines, settle, static_text, wait_for

from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.model import LogEntry
from orchwatch.sources.base import Sources
from orchwatch.tui.panes.logs import LogsPane
from orchwatch.tui.screens.traceback import TracebackScreen
from orchwatch.tui.widgets.logs import ErrorGroupTable, LogView


def group_rows(app) -> list[list[str]]:  # type: ignore[no-untyped-def]
    table = app.dashboard.query_one(ErrorGroupTable)
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


async def poll_logs(pilot, minutes: int = 0) -> None:  # type: ignore[no-untyped-def]
    clock = pilot.app.sources.clock
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(minutes=minutes))
    pilot.app.dashboard.logs.refresh_now()
    await settle(pilot)


async def test_crash_loop_group_first_and_count_climbs(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        first = group_rows(app)[0]
        # Half the screen wide, the exception and its message share a column over two
        # lines, so the module is whole; the group holds it whole, and so does Enter.
        assert first[1] == (
            "ModuleNotFoundError: No module named\n'shared.validation.phase3_data_quality_check'"
        )
        assert len(first) == 2
        group = app.dashboard.logs.groups[0]
        assert group.message == "No module named 'shared.validation.phase3_data_quality_check'"
        assert group.services == ("phase3-to-phase4-orchestrator",)
        before = int(first[0])
        await poll_logs(pilot, minutes=10)
        after = int(group_rows(app)[0][0])
        assert after > before
        pane = app.query_one(LogsPane)
        assert "● live" in str(pane.query_one("#logs-status").render())


async def test_enter_on_a_group_shows_the_sample(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, TracebackScreen))
        assert isinstance(app.screen, TracebackScreen)
        text = static_text(app.screen)
        assert "Traceback (most recent call last):" in text
        assert "from .phase3_data_quality_check import check_phase3_quality" in text


async def test_tail_pause_severity_search_and_jump(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3", "l")
        view = app.query_one(LogView)
        assert view.has_focus and view.following
        total = view.visible_count
        await pilot.press("space")  # pause
        await poll_logs(pilot, minutes=3)
        assert not view.following and view.unseen > 0
        assert "PAUSED" in str(app.query_one("#logs-status").render())
        await pilot.press("space")
        assert view.following and view.cursor == view.visible_count - 1
        await pilot.press("s", "s", "s")  # threshold: error
        shown = [view.line_text(r) for r in range(view.visible_count)]
        # Errors, and the traceback lines Cloud Run writes with no severity: a threshold
        # never hides a traceback.
        assert all(" ERRO " in line or " DEFA " in line for line in shown)
        assert any(" DEFA " in line and "ModuleNotFoundError" in line for line in shown)
        assert view.visible_count < total
        await pilot.press("s")  # back to all
        await pilot.press("slash", *"exit\\(1\\)", "enter")
        await settle(pilot)
        rows = [view.line_text(r) for r in range(view.visible_count)]
        assert any("Container called exit(1)." in r for r in rows)
        assert any(r.strip() == "⋯" for r in rows)  # folded between context blocks
        assert len(rows) < total
        # jump from a traceback line to its group
        row = next(i for i, r in enumerate(rows) if "ModuleNotFoundError" in r)
        view.cursor = row
        await pilot.press("enter")
        await settle(pilot)
        assert app.query_one(LogsPane).mode == "groups"
        table = app.query_one(ErrorGroupTable)
        assert table.get_row_at(table.cursor_row)[1].plain.startswith("ModuleNotFoundError:")


async def test_hostile_payloads_are_shown_as_text(config: Config, demo: Sources) -> None:
    now = demo.clock.now()
    hostile = [
        "[bold red]not markup[/]",
        "[@click=app.quit]click me[/]",
        "clip \x1b]52;c;ZXZpbA==\x07 end",
        "\x1b[2J\x1b[Hcleared?",
        "bad utf8 \ufffd\ufffd",
        "x" * (256 * 1024),
    ]
    store = demo.completions
    store.insert_log(  # type: ignore[attr-defined]
        [
            LogEntry(
                now + timedelta(seconds=i), "ERROR", text, "evil", "evil-00001-abc", "i", f"h{i}"
            )
            for i, text in enumerate(hostile)
        ]
    )
    demo.clock.advance(timedelta(seconds=10))  # type: ignore[attr-defined]
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3", "l", "f")
        while app.query_one(LogView).service != "evil":
            await pilot.press("f")
        view = app.query_one(LogView)
        lines = [view.line_text(r) for r in range(view.visible_count)]
        assert len(lines) == len(hostile)
        assert "[bold red]not markup[/]" in lines[0]
        assert "[@click=app.quit]click me[/]" in lines[1]
        assert "␛]52;c;ZXZpbA==␇" in lines[2]
        assert "␛[2J␛[Hcleared?" in lines[3]
        assert all("\x1b" not in line and "\x07" not in line for line in lines)
        assert lines[5].endswith("chars)")
        assert len(lines[5]) < 5000
        assert app.is_running  # the click action did not quit


async def test_refreshes_while_a_modal_is_open_update_the_dashboard(
    config: Config, demo: Sources
) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        before = int(group_rows(app)[0][0])
        await poll_logs(pilot, minutes=10)
        app.dashboard.completions.refresh_now()
        app.dashboard.revisions.refresh_now()
        app.dashboard.update_status()
        await settle(pilot)
        assert app.is_running
        assert int(group_rows(app)[0][0]) > before


async def test_a_narrow_log_pane_keeps_the_stream_state_and_paused_visible(
    config: Config, demo: Sources
) -> None:
    """At 120x35 (the logs pane half the width) the status line is cut from its least
    important end, with an ellipsis."""
    app = make_app(config, demo)
    async with app.run_test(size=(120, 35)) as pilot:
        await settle(pilot)
        await pilot.press("3", "l", "f", "slash", *"ModuleNotFound", "enter")
        await settle(pilot)
        await pilot.press("space")  # pause
        await poll_logs(pilot, minutes=3)
        [line] = [x for x in screen_lines(app) if "● live" in x]
        assert "● live · PAUSED (+" in line
        assert "…" in line  # the rest (search, mode, filters) cut with an ellipsis
