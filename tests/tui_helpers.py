"""Helpers for driving the app in tests: deterministic construction and waiting on workers."""

from __future__ import annotations

import io

from rich.console import Console
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.app import OrchwatchApp

SIZE = (160, 45)


def make_app(config: Config, sources: Sources) -> OrchwatchApp:
    """An app with a frozen wall clock and no periodic refresh during the test."""
    return OrchwatchApp(
        config, sources, refresh_seconds=3600, log_poll_seconds=3600, wall=lambda: 0.0
    )


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every worker has finished and its messages are handled."""
    # Panes start one another (completions, then revisions, then logs): wait until every
    # pane has answered once and no worker is left running.
    for _ in range(100):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        ready = getattr(pilot.app, "panes_ready", True)
        if ready and not any(w.is_running for w in pilot.app.workers):
            break
    # A table's last layout can land after the frame that painted it: repaint every
    # widget once more, so a screenshot shows the state the widgets hold.
    for screen in pilot.app.screen_stack:
        screen.refresh(layout=True)
        for widget in screen.walk_children():
            widget.refresh()
    await pilot.pause()


def static_text(screen: Screen[object]) -> str:
    """The text of every Static on a screen, rich renderables rendered as a terminal would."""
    console = Console(width=200, record=True, file=io.StringIO())
    for widget in screen.query(Static):
        console.print(widget.content)
    return console.export_text()
