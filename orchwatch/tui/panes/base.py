"""What every polled pane shares: its refresh cycle, back-off, error border and age.

A pane reads its source in a worker (`fetch`), off the UI thread, and the worker posts
a message to the pane; the pane's handler renders it and calls `loaded`, which schedules
the next refresh, so a pane's reads never overlap. A failed worker turns the border red
with the error, the age of the data still on screen and when it retries; the retry
interval doubles with each failure in a row. Either way the pane posts `Answered`, which
is how the dashboard starts the next pane and keeps the status bar current.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from orchwatch.config import Config
from orchwatch.sanitize import inert_line
from orchwatch.sources.base import Sources
from orchwatch.tui.failures import failure_text


def retry_delay(base: float, failures: int, cap: float = 300.0) -> float:
    """Seconds before the next try after `failures` failed refreshes in a row: the refresh
    interval, doubled for each further failure, at most `cap` (and never below `base`)."""
    return max(base, min(base * 2.0 ** max(failures - 1, 0), cap))


def format_age(seconds: float) -> str:
    """`42 s`, `7 min`, `3 h`."""
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"


@dataclass(frozen=True)
class PaneContext:
    """What the panes read from and how often: built once by the app."""

    config: Config
    sources: Sources
    refresh_seconds: float
    log_poll_seconds: float
    wall: Callable[[], float]
    """A monotonic clock for data ages; tests freeze it."""


class Pane(Vertical):
    """A bordered pane that reads one source on a schedule."""

    LABEL: ClassVar[str] = ""
    """How the status bar names the pane ("completions unavailable")."""

    class Answered(Message):
        """The pane's read finished, with data (`ok`) or with an error it shows."""

        def __init__(self, pane: Pane, ok: bool) -> None:
            self.pane = pane
            self.ok = ok
            super().__init__()

    def __init__(self, context: PaneContext, *, id: str) -> None:
        super().__init__(id=id, classes="pane")
        self.context = context
        self.config = context.config
        self.sources = context.sources
        self.loaded_at: float | None = None
        """When the data on screen was read (the wall clock), or None before any."""
        self.failing = False
        self.failures = 0
        """Consecutive failed refreshes: the retry interval doubles with each."""
        self.last_error: str | None = None
        """What the last failed read said (None once a read succeeds)."""
        self.helper_errors: dict[str, str] = {}
        """Helper workers that failed (a live listener), by group: the pane goes on
        polling without them."""
        self._timer: Timer | None = None

    # --- what a pane implements ----------------------------------------------------------

    @property
    def interval(self) -> float:
        """Seconds between reads."""
        return self.context.refresh_seconds

    def fetch(self) -> None:
        """Start the worker that reads the source. Its group must be the pane's id, and its
        message's handler must call `loaded` once the data is on screen."""
        raise NotImplementedError

    def focus_inside(self) -> None:
        """Put the focus on the pane's list (the first focusable widget by default)."""
        target = next((w for w in self.query("*") if w.focusable), None)
        if target is not None:
            target.focus()

    def extra_problems(self) -> list[str]:
        """Problems beyond "unavailable" and "stale" the status bar should name."""
        return []

    # --- the cycle -----------------------------------------------------------------------

    @property
    def answered(self) -> bool:
        """Whether the pane has answered once (with data or an error)."""
        return self.loaded_at is not None or self.failing

    def refresh_now(self) -> None:
        """Read now; the scheduled read is superseded."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.fetch()

    def start_once(self) -> None:
        """The pane's first read, unless it has started already."""
        if self.answered or self._timer is not None:
            return
        reading = (w for w in self.app.workers if w.node is self and w.group == self.id)
        if not any(not w.is_finished for w in reading):
            self.refresh_now()

    def loaded(self) -> None:
        """The data read is on screen: clear any error and schedule the next read."""
        self.loaded_at = self.context.wall()
        self.failing = False
        self.failures = 0
        self.last_error = None
        self.border_subtitle = ""
        self.remove_class("-error")
        self._timer = self.set_timer(self.interval, self.refresh_now)
        self.post_message(self.Answered(self, ok=True))

    def stale_for(self, now: float) -> float | None:
        """Age of the data when it is older than three intervals and no error explains it
        (a read that hangs), else None."""
        if self.failing or self.loaded_at is None:
            return None
        age = now - self.loaded_at
        return age if age > max(3 * self.interval, 30.0) else None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read is a state of the pane; the last good data stays on screen. A
        helper worker's failure (a live listener that could not open) is said, and the
        pane goes on polling."""
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        what = failure_text(error)
        if event.worker.group != self.id:
            self.helper_errors[event.worker.group] = what
            self.notify(
                inert_line(f"{self.LABEL or self.id}: {event.worker.group}: {what}", 400),
                severity="warning",
                markup=False,
            )
            return
        self.add_class("-error")
        self.failures += 1
        delay = retry_delay(self.context.refresh_seconds, self.failures)
        age = (
            f" · showing data from {format_age(self.context.wall() - self.loaded_at)} ago"
            if self.loaded_at is not None
            else ""
        )
        self.last_error = what
        self.border_subtitle = inert_line(f"⚠ {what}{age} · retrying in {delay:g} s", 400)
        how_to = getattr(error, "how_to", None)
        if isinstance(how_to, str):
            self.app.post_message(HowTo(how_to))
        self.failing = True
        self._timer = self.set_timer(delay, self.refresh_now)
        self.post_message(self.Answered(self, ok=False))


class HowTo(Message):
    """A how-to for the operator (no credentials...): the app shows each one once."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__()
