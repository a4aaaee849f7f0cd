"""The Pub/Sub hop in the TUI: one key from the first screen to "pushed, refused, dropped",
the Pub/Sub view, and the replay's refusals (the whole loop is in test_demo_loop)."""

from __future__ import annotations

from datetime import datetime

from tui_helpers import SIZE, make_app, screen_lines, settle, static_text, wait_for

from orchwatch.config import Config
from orchwatch.pubsub import OutgoingMessage, PubSubReading
from orchwatch.sources.base import SourceError, Sources
from orchwatch.tui.app import OrchwatchApp
from orchwatch.tui.screens.confirm_replay import ConfirmReplayScreen
from orchwatch.tui.screens.explain import ExplainScreen
from orchwatch.tui.screens.pubsub import PubSubScreen

LOST = ("team_defense_game_summary", "upcoming_player_game_context")


async def open_pubsub(pilot, app: OrchwatchApp) -> PubSubScreen:  # type: ignore[no-untyped-def]
    """`P` from the first screen, and the view once it has read."""
    await settle(pilot)
    await pilot.press("P")
    assert await wait_for(pilot, lambda: isinstance(app.screen, PubSubScreen))
    screen = app.screen
    assert isinstance(screen, PubSubScreen)
    assert await wait_for(pilot, lambda: screen.view is not None)
    await settle(pilot)
    return screen


async def test_one_key_from_the_first_screen_says_the_completions_were_pushed_and_dropped(
    config: Config, demo: Sources
) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ExplainScreen))
        assert await wait_for(pilot, lambda: "Pub/Sub" in static_text(app.screen))
        text = " ".join(static_text(app.screen).split())
        assert (
            f"pushed the completions of {', '.join(LOST)} to phase3-to-phase4-orchestrator" in text
        )
        assert "which refused them" in text
        assert "messages dropped: not acknowledged, not waiting, no dead-letter topic" in text


async def test_the_pubsub_view_leads_with_the_failing_hop(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=(120, 35)) as pilot:
        screen = await open_pubsub(pilot, app)
        hop = screen.cursor_hop()
        assert hop is not None and hop.phase == "phase3"
        lines = screen_lines(app)
        row = next(line for line in lines if " phase3 " in line and "✗" in line)
        assert row.split()[3:9] == [
            str(hop.published),
            str(hop.acked),
            str(hop.dropped),
            "0",
            str(hop.dropped),
            "3/5",  # what reached Firestore
        ]
        assert any("no dead-letter topic" in line for line in lines)
        assert any("nba-phase4-trigger is delivered by" in line for line in lines)


async def test_replay_while_the_orchestrator_refuses_shows_why_and_sends_nothing(
    config: Config, demo: Sources
) -> None:
    app = make_app(config, demo, allow_actions=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmReplayScreen))
        screen = app.screen
        assert isinstance(screen, ConfirmReplayScreen)
        assert not screen.plan.runnable
        text = " ".join(static_text(screen).split())
        assert "still refuses its pushes" in text
        assert all(f'"processor_name": "{name}"' in text for name in LOST)
        assert not screen.query("#confirm-name")  # nothing to type: only Esc
        await pilot.press("escape")
        await settle(pilot)
        assert not app.audit.path.exists()


async def test_replay_is_off_unless_actions_are(config: Config, demo: Sources) -> None:
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("R")
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmReplayScreen)
        assert any("Actions are off" in str(n.message) for n in app._notifications)


class Failing:
    """A Pub/Sub source whose every read fails."""

    def read_pubsub(self, topics: object, since: datetime, until: datetime) -> PubSubReading:
        raise SourceError("Cloud Monitoring: 403 permission denied (monitoring.timeSeries.list)")

    def publish(self, topic: str, messages: list[OutgoingMessage]) -> list[str]:
        raise SourceError("not here")


async def test_a_failing_pubsub_read_is_shown_in_place(config: Config, demo: Sources) -> None:
    demo.pubsub = Failing()
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("P")
        assert await wait_for(pilot, lambda: isinstance(app.screen, PubSubScreen))
        assert await wait_for(pilot, lambda: "could not be read" in static_text(app.screen))
        assert "403 permission denied" in static_text(app.screen)


async def test_the_pubsub_view_fits_80_columns(config: Config, demo: Sources) -> None:
    """At 80x24 every column shows without a sideways scroll: the counts' headers shrink,
    the verdict is cut with an ellipsis (it is whole in the detail below)."""
    from textual.widgets import DataTable

    app = make_app(config, demo)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_pubsub(pilot, app)
        table = screen.query_one("#pubsub-table", DataTable)
        assert table.virtual_size.width <= table.size.width
        row = next(line for line in screen_lines(app) if " phase3 " in line)
        assert row.rstrip().endswith("…   │") or "…" in row
