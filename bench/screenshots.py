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


async def explained(pilot: Pilot[None]) -> None:
    """`x` on the first screen, once the chain is built (the validator and git read)."""
    from orchwatch.tui.screens.explain import ExplainScreen

    await press(pilot, "x")
    app = pilot.app
    while not (isinstance(app.screen, ExplainScreen) and app.screen.explanation is not None):
        await pilot.pause()
    await settle(pilot)


SHOTS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "grid": settle,
    "grid-failed-date": lambda pilot: press(pilot, *"pppppppp"),
    # The grid opens on phase 3's header, the phase that needs attention.
    "cell-detail": lambda pilot: press(pilot, "down", "down", "down", "down", "enter"),
    "phase-detail": lambda pilot: press(pilot, "enter"),
    "explain": lambda pilot: explained(pilot),
    "timeline": lambda pilot: press(pilot, "T"),
    "pubsub": lambda pilot: press(pilot, "P"),
    "replay-preview": lambda pilot: press(pilot, "R"),
    "help": lambda pilot: press(pilot, "question_mark"),
    "revision-history": lambda pilot: focus_revisions_and(pilot, "enter"),
    "revision-detail": lambda pilot: focus_revisions_and(pilot, "enter", "enter"),
    "log-tail-search": lambda pilot: press(pilot, "3", "l", "slash", *"ModuleNotFound", "enter"),
    "traceback-sample": lambda pilot: press(pilot, "3", "enter"),
    "walkthrough": lambda pilot: press(pilot, "w"),
    "small-terminal-80x24": lambda pilot: press(pilot, "2"),
    "large-terminal-200x55": settle,
}
SIZES = {"small-terminal-80x24": (80, 24), "large-terminal-200x55": (200, 55)}
"""Shots at another size than SIZE."""


WITH_ACTIONS = {"replay-preview"}
"""Shots with the actions allowed."""

WITH_REPO = {"explain"}
"""Shots with `[repo] path` on the demo repository (the validator's finding, the commits)."""


async def shoot(name: str, action: Callable[[Pilot[None]], Awaitable[None]]) -> Path:
    config = load_config(None)
    if name in WITH_REPO:
        from dataclasses import replace

        from orchwatch.cli import _demo_deploys
        from orchwatch.validate.demo_repo import commit_history, write_demo_repo

        repo = Path(tempfile.mkdtemp(prefix="orchwatch-screenshot-repo-")) / "repo"
        write_demo_repo(repo)
        commit_history(repo, _demo_deploys())
        config = replace(config, repo_path=repo)
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))
    audit = Path(tempfile.mkdtemp(prefix="orchwatch-screenshot-audit-")) / "audit.jsonl"
    app = OrchwatchApp(
        config,
        sources,
        refresh_seconds=3600,
        log_poll_seconds=3600,
        wall=lambda: 0.0,
        allow_actions=name in WITH_ACTIONS,
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
