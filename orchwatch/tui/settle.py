"""Wait until the dashboard has settled: for tests and the screenshot script.

Panes start one another (completions, then revisions, then logs), so waiting for
the current workers is not enough: wait until every pane has answered once and no
worker is left running, then repaint once so a screenshot shows what the widgets hold.
"""

from __future__ import annotations

from textual.app import App
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed


async def wait_workers(app: App[object]) -> None:
    """Wait for the app's workers. A worker superseded by a newer refresh of its pane
    (exclusive workers) ends cancelled, and a failed one is a pane state the caller
    asserts on: neither is an error of the waiting."""
    try:
        await app.workers.wait_for_complete()
    except (WorkerCancelled, WorkerFailed):
        return


async def settle(pilot: Pilot[None]) -> None:
    """Return once the app is quiet and its screen is up to date."""
    for _ in range(100):
        await wait_workers(pilot.app)
        await pilot.pause()
        ready = getattr(pilot.app, "panes_ready", True)
        if ready and not any(w.is_running for w in pilot.app.workers):
            break
    for screen in pilot.app.screen_stack:
        screen.refresh(layout=True)
        for widget in screen.walk_children():
            widget.refresh()
    await pilot.pause()
