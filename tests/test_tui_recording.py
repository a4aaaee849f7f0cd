"""The dashboard on a recording: a banner says it is a recording and of when; the moment
keys step through it and jump to a time; every pane shows the moment stepped to; actions
are refused, said why."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_recording import HOUR, record_demo
from tui_helpers import SIZE, make_app, screen_lines, settle, wait_for

from orchwatch.config import Config
from orchwatch.sources.factory import SourceOptions, build_sources
from orchwatch.tui.widgets.recording import RecordingBanner


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, config: Config) -> Path:
    out = tmp_path_factory.mktemp("tui-recording") / "bridge.db"
    record_demo(config, out, HOUR[:6])
    return out


def banner(app: object) -> str:
    return str(app.screen_stack[0].query_one(RecordingBanner).render())  # type: ignore[attr-defined]


async def test_the_banner_and_the_moment_keys(recorded: Path, config: Config) -> None:
    sources = build_sources(SourceOptions(store_path=recorded), config)
    app = make_app(config, sources, allow_actions=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            lines = screen_lines(app)
            assert lines[0].startswith(" RECORDING · bridge.db · showing 2026-02-01 11:42:00Z")
            assert "(following)" in lines[0]
            # Judged as of the moment (a long path may make the status bar drop the date).
            assert "06:42 EST" in lines[1]
            assert "q Quit  [ Earlier  ] Later  @ Jump" in lines[-1]

            await pilot.press("left_square_bracket", "left_square_bracket")
            assert await wait_for(pilot, lambda: "showing 2026-02-01 11:38:00Z" in banner(app))
            await settle(pilot)
            lines = screen_lines(app)
            assert "(following)" not in lines[0]
            assert "06:38 EST" in lines[1]

            await pilot.press("at")
            await settle(pilot)
            await pilot.press(*"2026-02-01T11:35:30", "enter")
            assert await wait_for(pilot, lambda: "showing 2026-02-01 11:34:00Z" in banner(app))

            await pilot.press("at")
            await settle(pilot)
            await pilot.press(*"2026-02-02T00:00", "enter")  # past the end: said, not shown
            await settle(pilot)
            assert "showing 2026-02-01 11:34:00Z" in banner(app)
            assert any("covers" in str(n.message) for n in app._notifications)
            await pilot.press("escape")

            await pilot.press("right_curly_bracket")  # an hour on: the last moment
            assert await wait_for(pilot, lambda: "showing 2026-02-01 11:42:00Z" in banner(app))
            assert "(following)" in banner(app)

            await pilot.press("d")  # a viewer never acts
            await settle(pilot)
            assert any("A recording is read-only" in str(n.message) for n in app._notifications)
    finally:
        sources.close()


async def test_no_moment_keys_without_a_recording(config: Config, demo: object) -> None:
    app = make_app(config, demo)  # type: ignore[arg-type]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert not app.screen.query(RecordingBanner)
        assert "Earlier" not in screen_lines(app)[-1]
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert "RECORDING" not in screen_lines(app)[0]


async def test_a_viewer_shows_the_environment_the_recording_was_made_of(
    tmp_path: Path, config: Config
) -> None:
    from test_environments import with_environments

    from orchwatch.tui.widgets.environment import EnvironmentBanner

    out = tmp_path / "prod.db"
    record_demo(with_environments(config), out, HOUR[:2])
    sources = build_sources(SourceOptions(store_path=out), config)  # the viewer's own config
    app = make_app(config, sources)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            lines = screen_lines(app)
            assert lines[0].startswith(" PRODUCTION · prod · project nba-props-platform")
            assert lines[1].startswith(" RECORDING · prod.db")
            banner = app.dashboard.query_one(EnvironmentBanner)
            assert banner.styles.background.rgb == (128, 0, 0)  # its colour, recorded
    finally:
        sources.close()
