"""One error path for every worker: a read that raises is shown where its result would
have been, with the key that retries, never dropped (a screen that says `reading…`
forever is a silence an operator takes for slowness).

Textual runs a thread worker's exception into a `Worker.StateChanged` (ERROR) on the
node that started it, when the worker is declared with `exit_on_error=False`, as every
worker here is. `FailsInPlace` turns that into the node's `failed(group, reason)`.
"""

from __future__ import annotations

from textual.worker import Worker, WorkerState

from orchwatch.sources.base import SourceError


def failure_text(error: BaseException | None) -> str:
    """What a failed read says: a source's own message, else the exception's type and
    message (the type says which kind of bug it is)."""
    if error is None:
        return "failed"
    if isinstance(error, SourceError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class FailsInPlace:
    """For a screen or widget whose thread workers read: each worker that raises reaches
    `failed`, on the UI thread, which shows it in place."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of this node raised: show it."""
        if event.state is WorkerState.ERROR:
            self.failed(event.worker.group, failure_text(event.worker.error))

    def failed(self, group: str, reason: str) -> None:
        """Show that the work of `group` failed, and how to retry."""
        raise NotImplementedError
