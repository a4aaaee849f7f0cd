"""Helpers for driving the app in tests: deterministic construction and waiting on workers."""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from settle import busy, settle
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Static

from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.app import OrchwatchApp

__all__ = [
    "SIZE",
    "make_app",
    "reads",
    "screen_lines",
    "settle",
    "static_text",
    "wait_for",
    "wait_for_finished_runs",
]

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


def screen_lines(app: OrchwatchApp) -> list[str]:
    """The terminal's text, line by line, as the user sees it (from the SVG Textual
    exports, so a cut or an ellipsis is what the screen shows)."""
    import html
    import re

    rows: dict[float, list[tuple[int, str]]] = {}
    pattern = r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>'
    for x, y, text in re.findall(pattern, app.export_screenshot()):
        column = round(float(x) / 12.2)  # Textual's SVG puts a cell every 12.2 px
        rows.setdefault(float(y), []).append((column, html.unescape(text)))
    lines = []
    for _, parts in sorted(rows.items()):
        line = ""
        for column, text in sorted(parts):
            line = line.ljust(column) + text  # the gaps the SVG leaves are blank cells
        lines.append(line.replace("\xa0", " "))
    return lines


def reads(lines: list[str], text: str, depth: int = 3) -> bool:
    """Whether `text` reads on the screen: on one line, or wrapped over up to `depth`
    lines that start at the same column of a table cell (words split at spaces)."""
    wanted = " ".join(text.split())
    first = wanted.split(" ")[0]
    for row, line in enumerate(lines):
        column = line.find(first)
        while column >= 0:
            cells = (below[column:].split("│")[0] for below in lines[row : row + depth])
            if wanted in " ".join(" ".join(cells).split()):
                return True
            column = line.find(first, column + 1)
    return False


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], bool], seconds: float = 60.0
) -> bool:
    """Wait until `condition` holds, checking it each time the app has handled what was
    queued. A key's effect can take several hops between widgets' message queues, and
    some waits are on things outside the app (a deploy's process, a server coming back).
    `seconds` only bounds a wait that would otherwise hang: tests assert the condition,
    never how long it took."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return condition()
        await pilot.pause(0.01 if busy(pilot.app) else 0.05)
    return True


async def wait_for_finished_runs(pilot: Pilot[None], audit_path: Path, count: int = 1) -> None:
    """Wait until the audit log holds `count` finished runs (a run may not have started
    yet when its confirmation has just been dismissed)."""
    from orchwatch.actions.audit import read_audit

    def finished() -> bool:
        entries, _ = read_audit(audit_path)
        return sum(1 for e in entries if e.finished is not None) >= count

    assert await wait_for(pilot, finished), f"fewer than {count} runs finished in the audit log"
    await settle(pilot)
