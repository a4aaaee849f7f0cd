"""Helpers for driving the app in tests: deterministic construction and waiting on workers."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from settle import settle
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.app import OrchwatchApp

__all__ = ["SIZE", "make_app", "settle", "static_text", "wait_for", "wait_for_finished_runs"]

SIZE = (160, 45)


def make_app(config: Config, sources: Sources, **options: Any) -> OrchwatchApp:
    """An app with a frozen wall clock and no periodic refresh during the test; `options`
    go to OrchwatchApp (allow_actions, audit_path...)."""
    defaults = {
        "refresh_seconds": 3600,
        "log_poll_seconds": 3600,
        "wall": lambda: 0.0,
        # Never the user's own audit log: what the dashboard says at start must not depend
        # on runs on this machine.
        "audit_path": Path(tempfile.mkdtemp(prefix="orchwatch-test-audit-")) / "audit.jsonl",
    }
    return OrchwatchApp(config, sources, **{**defaults, **options})


def static_text(screen: Screen[object]) -> str:
    """The text of every Static on a screen, rich renderables rendered as a terminal would."""
    console = Console(width=200, record=True, file=io.StringIO())
    for widget in screen.query(Static):
        console.print(widget.content)
    return console.export_text()


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], rounds: int = 100) -> bool:
    """Pause until `condition` holds. A key's effect can take several hops between widgets'
    message queues, and one pause waits only for the app's own queue to empty."""
    for _ in range(rounds):
        if condition():
            return True
        await pilot.pause()
    return condition()


async def wait_for_finished_runs(pilot: Pilot[None], audit_path: Path, count: int = 1) -> None:
    """Wait until the audit log holds `count` finished runs (a run may not have started
    yet when its confirmation has just been dismissed)."""
    from orchwatch.actions.audit import read_audit

    for _ in range(400):
        entries, _ = read_audit(audit_path)
        if sum(1 for e in entries if e.finished is not None) >= count:
            break
        await pilot.pause(0.05)
    await settle(pilot)
