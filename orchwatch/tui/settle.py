"""Wait until the dashboard has settled: for tests and the screenshot script.

Panes start one another (completions, then revisions, then logs), so waiting for
the current workers is not enough: wait until every pane has answered once and no
worker is left running, then repaint once so a screenshot shows what the widgets hold.
"""

from __future__ import annotations

from textual.pilot import Pilot


async def settle(pilot: Pilot[None]) -> None:
    """Return once the app is quiet and its screen is up to date."""
    for _ in range(100):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        ready = getattr(pilot.app, "panes_ready", True)
        if ready and not any(w.is_running for w in pilot.app.workers):
            break
    for screen in pilot.app.screen_stack:
        screen.refresh(layout=True)
        for widget in screen.walk_children():
            widget.refresh()
    await pilot.pause()
