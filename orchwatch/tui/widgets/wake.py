"""DataTable sizes columns and rows on its own Idle event, which comes only after the table
handles a message. Rows added by a direct call from the app's handler do not wake it, so
it can paint stale column widths until some unrelated event arrives. Posting it a no-op
callback wakes it: it handles the message, goes idle, and lays itself out."""

from __future__ import annotations

from textual.widget import Widget


def wake(widget: Widget) -> None:
    """Make `widget` process its pending layout work now rather than on the next event."""
    widget.call_later(_nothing)


def _nothing() -> None:
    return None
