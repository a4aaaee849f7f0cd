"""Wait until the dashboard has settled: for tests and the screenshot script.

Panes start one another (completions, then revisions, then logs), and one key can
travel through several message queues (grid -> app -> table), so neither waiting for
the current workers nor one `pilot.pause()` is enough. `settle` waits until, several
checks in a row, every pane has answered once, no worker runs, no node on any screen
has a message or a next-callback queued, and the current screen has no layout or
repaint pending. It then repaints every widget and waits for quiet again, so a
screenshot shows what the widgets hold.
"""

from __future__ import annotations

from textual.app import App
from textual.dom import DOMNode
from textual.pilot import Pilot
from textual.worker import WorkerCancelled, WorkerFailed

QUIET_CHECKS = 3
"""Consecutive quiet checks that count as settled: a message handled in one check can
post another that only shows as queued in the next."""
MAX_CHECKS = 400
"""A bound so a test that never settles fails on its assertion instead of hanging."""


async def wait_workers(app: App[object]) -> None:
    """Wait for the app's workers. A worker superseded by a newer refresh of its pane
    (exclusive workers) ends cancelled, and a failed one is a pane state the caller
    asserts on: neither is an error of the waiting."""
    try:
        await app.workers.wait_for_complete()
    except (WorkerCancelled, WorkerFailed):
        return


def _nodes(app: App[object]) -> list[DOMNode]:
    nodes: list[DOMNode] = [app]
    for screen in app.screen_stack:
        nodes.extend(screen.walk_children(with_self=True))
    return nodes


def _current_nodes(app: App[object]) -> set[DOMNode]:
    """The nodes of the current screen: a background screen lays itself out only when it
    is current again, so its pending layout is not work that will happen."""
    return set(app.screen.walk_children(with_self=True))


def busy(app: App[object]) -> bool:
    """Whether anything is still to happen without input: work, messages, layout."""
    if not getattr(app.screen_stack[0], "panes_ready", True):
        return True
    if any(w.is_running for w in app.workers):
        return True
    for node in _nodes(app):
        if node._message_queue.qsize() or node._next_callbacks:
            return True
    for node in _current_nodes(app):
        if getattr(node, "_layout_required", False) or getattr(node, "_repaint_required", False):
            return True
    screen = app.screen
    return bool(screen._scroll_required or screen._recompose_required or screen._dirty_widgets)


async def _quiet(pilot: Pilot[None]) -> None:
    quiet = 0
    for _ in range(MAX_CHECKS):
        if not pilot.app.is_running:
            return  # an app that exited (a test that quit it) has nothing left to settle
        await wait_workers(pilot.app)
        await pilot.pause()
        quiet = 0 if busy(pilot.app) else quiet + 1
        if quiet >= QUIET_CHECKS:
            return


async def settle(pilot: Pilot[None]) -> None:
    """Return once the app is quiet and its screen is up to date (at once when it has
    exited)."""
    await _quiet(pilot)
    if not pilot.app.is_running:
        return
    for screen in pilot.app.screen_stack:
        screen.refresh(layout=True)
        for widget in screen.walk_children():
            widget.refresh()
    await _quiet(pilot)
