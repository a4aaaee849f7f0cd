"""The dashboard on real terminal sizes: below 100x30 one pane at a time, full screen
(1 2 3 switch); `z` zooms the focused pane on a larger one; resizes keep the selected date
in view. Asserted on the screen's text, as the user reads it."""

from __future__ import annotations

from tui_helpers import make_app, screen_lines, settle, wait_for

from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.app import OrchwatchApp


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
        row = next(line for line in screen_lines(app) if "phase3-to-phase4-orchestrator" in line)
        assert "CRASHING 00025" in row
        assert app.focused is app.dashboard.revisions.table
        await pilot.press("3")
        await settle(pilot)
        assert shown(app) == {"logs"}
        assert "No module named 'shared.validation" in screen(app)
        await pilot.press("z")  # nothing to zoom out to: it says why
        await settle(pilot)
        assert shown(app) == {"logs"}
        assert "one pane at a time" in str([n.message for n in app._notifications])
        await pilot.resize_terminal(160, 45)
        await settle(pilot)
        assert shown(app) == {"completions", "revisions", "logs"}
        assert app.focused is not None and app.dashboard.logs in app.focused.ancestors


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
