"""The command palette holds every command with its key, found by the words an operator
types."""

from __future__ import annotations

import pytest
from textual.command import CommandList, CommandPalette
from tui_helpers import SIZE, make_app, settle, wait_for

from orchwatch.config import Config
from orchwatch.sources.base import Sources

WORDS = {
    "time": "Timeline of the selected date (T)",
    "why": "Why? Explain what is under the cursor (x)",
    "explain": "Why? Explain what is under the cursor (x)",
    "deploy": "Deploy: redeploy the selected service (d)",
    "audit": "Audit log (a)",
    "zoom": "Zoom the focused pane (z)",
    "walkthrough": "Morning walkthrough (w)",
    "validate": "Validate the deployment packages (v)",
    "roll back": "Roll back the selected service (b)",
    "cancel": "Cancel a run (c)",
    "actions": "Actions pane (4)",
}


def _shown(palette: CommandPalette) -> list[str]:
    options = palette.query_one(CommandList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_every_command_is_found_with_its_key(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for word, command in WORDS.items():
            await pilot.press("ctrl+p")
            assert await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
            palette = app.screen
            assert isinstance(palette, CommandPalette)
            await pilot.press(*word)

            def found(palette: CommandPalette = palette, command: str = command) -> bool:
                return any(command in hit for hit in _shown(palette))

            assert await wait_for(pilot, found), (word, _shown(palette))
            await pilot.press("escape")
            assert await wait_for(pilot, lambda: not isinstance(app.screen, CommandPalette))


async def test_a_palette_command_does_what_its_key_does(config: Config, demo: Sources) -> None:
    from orchwatch.tui.screens.timeline import TimelineScreen

    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"timeline")
        assert await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, CommandPalette)
                and any("Timeline" in hit for hit in _shown(app.screen))
            ),
        )
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))


@pytest.mark.parametrize("key", ["4"])
async def test_a_pane_key_with_no_pane_yet_says_so(config: Config, demo: Sources, key: str) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press(key)
        await settle(pilot)
        assert any("No run yet" in str(n.message) for n in app._notifications)
