"""One error path: every screen's and pane's worker that raises is shown where its result
would have been (with the key that retries), or said in a notice; never `reading…` forever."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import SIZE, make_app, settle, static_text, wait_for

from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.tui.screens.daily import DailyScreen
from orchwatch.tui.screens.explain import ExplainScreen
from orchwatch.tui.screens.timeline import TimelineScreen


def _boom(*args: object, **kwargs: object) -> object:
    raise RuntimeError("the reader broke")


def _told(app) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(str(n.message) for n in app._notifications)


async def test_the_timeline_says_its_read_failed(
    config: Config, demo: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orchwatch.tui.screens.timeline.gather_timeline", _boom)
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("T")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TimelineScreen))
        heading = app.screen.query_one("#timeline-heading", Static)
        assert await wait_for(pilot, lambda: "could not be read" in str(heading.render()))
        assert "RuntimeError: the reader broke" in str(heading.render())
        assert "r: re-read" in str(heading.render())
        assert "Timeline: RuntimeError: the reader broke" in _told(app)


async def test_the_walkthrough_says_it_could_not_be_evaluated(
    config: Config, demo: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orchwatch.tui.screens.daily.gather_daily", _boom)
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DailyScreen))
        heading = app.screen.query_one("#daily-heading", Static)
        assert await wait_for(pilot, lambda: "could not be evaluated" in str(heading.render()))
        assert str(heading.render()).startswith("? UNKNOWN")
        assert "checking…" not in str(heading.render())


async def test_explain_says_what_failed(
    config: Config, demo: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("orchwatch.tui.screens.explain.explain", _boom)
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ExplainScreen))
        assert await wait_for(
            pilot,
            lambda: "Cannot explain: RuntimeError: the reader broke" in static_text(app.screen),
        )


async def test_a_deploy_preview_that_fails_is_said(
    config: Config, demo: Sources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from orchwatch.validate.demo_repo import write_demo_repo

    monkeypatch.setattr("orchwatch.preflight.preview_deploy", _boom)
    repo = tmp_path / "repo"
    write_demo_repo(repo)
    service = "phase2-to-phase3-orchestrator"
    cfg = replace(config, repo_path=repo, deploy_commands={service: ("true",)})
    app = make_app(cfg, demo, allow_actions=True, audit_path=tmp_path / "audit.jsonl")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.dashboard.actions.deploy(service, demo.clock.now().date(), None)
        assert await wait_for(
            pilot, lambda: "No deploy preview: RuntimeError: the reader broke" in _told(app)
        )


async def test_a_live_listener_that_cannot_open_is_said_and_the_pane_goes_on(
    config: Config, demo: Sources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo.completions, "watch_date", _boom)
    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert await wait_for(pilot, lambda: "watch: RuntimeError: the reader broke" in _told(app))
        completions = app.dashboard.completions
        assert completions.helper_errors == {"watch": "RuntimeError: the reader broke"}
        assert completions.statuses  # the grid still shows what it read
