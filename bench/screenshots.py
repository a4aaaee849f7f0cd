"""`make screenshots`: SVGs of the demo at a fixed size, frozen clock and fixed seed."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from orchwatch.clock import FrozenClock
from orchwatch.config import load_config
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources
from orchwatch.tui.app import OrchwatchApp
from tests.settle import settle

OUT = Path(__file__).resolve().parent.parent / "screenshots"
SIZE = (160, 45)


async def press(pilot: Pilot[None], *keys: str) -> None:
    await settle(pilot)
    await pilot.press(*keys)
    await settle(pilot)


async def focus_revisions_and(pilot: Pilot[None], *keys: str) -> None:
    await settle(pilot)
    pilot.app.dashboard.action_focus_revisions()  # type: ignore[attr-defined]
    pilot.app.query_one("#services").move_cursor(row=0)  # type: ignore[attr-defined]
    await pilot.press(*keys)
    await settle(pilot)


SHOTS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "grid": settle,
    "grid-failed-date": lambda pilot: press(pilot, *"pppppppp"),
    "cell-detail": lambda pilot: press(pilot, "down", "down", "down", "down", "right", "enter"),
    "phase-detail": lambda pilot: press(pilot, "up", "up", "up", "up", "right", "enter"),
    "help": lambda pilot: press(pilot, "question_mark"),
    "revision-history": lambda pilot: focus_revisions_and(pilot, "enter"),
    "revision-detail": lambda pilot: focus_revisions_and(pilot, "enter", "enter"),
    "log-tail-search": lambda pilot: press(pilot, "3", "l", "slash", *"ModuleNotFound", "enter"),
    "traceback-sample": lambda pilot: press(pilot, "3", "enter"),
    "walkthrough": lambda pilot: press(pilot, "w", "n"),
    "small-terminal-80x24": lambda pilot: press(pilot, "2"),
    "large-terminal-200x55": settle,
}
SIZES = {"small-terminal-80x24": (80, 24), "large-terminal-200x55": (200, 55)}
"""Shots at another size than SIZE."""


async def shoot(name: str, action: Callable[[Pilot[None]], Awaitable[None]]) -> Path:
    config = load_config(None)
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))
    audit = Path(tempfile.mkdtemp(prefix="orchwatch-screenshot-audit-")) / "audit.jsonl"
    app = OrchwatchApp(
        config,
        sources,
        refresh_seconds=3600,
        log_poll_seconds=3600,
        wall=lambda: 0.0,
        audit_path=audit,  # what the screen shows must not depend on this machine's runs
    )
    async with app.run_test(size=SIZES.get(name, SIZE)) as pilot:
        await action(pilot)
        path = app.save_screenshot(filename=f"{name}.svg", path=str(OUT))
    return Path(path)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, action in SHOTS.items():
        print(f"wrote {asyncio.run(shoot(name, action))}")


if __name__ == "__main__":
    main()
