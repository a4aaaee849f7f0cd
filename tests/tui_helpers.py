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
    return OrchwatchApp(config, sources, refresh_seconds=3600, wall=lambda: 0.0)


async def settle(pilot: Pilot[None]) -> None:
    """Wait until every worker has finished and its messages are handled."""
    # Panes start one another (the others after the first completion frame): loop until
    # a round starts no new worker.
    for _ in range(5):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in pilot.app.workers):
            break


def static_text(screen: Screen[object]) -> str:
    """The text of every Static on a screen, rich renderables rendered as a terminal would."""
    console = Console(width=200, record=True, file=io.StringIO())
    for widget in screen.query(Static):
        console.print(widget.content)
    return console.export_text()
