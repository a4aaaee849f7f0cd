"""Layout snapshots at a fixed size, frozen clock and fixed demo seed.

Update with `pytest tests/test_snapshots.py --snapshot-update` after checking the
report; the SVGs live in tests/__snapshots__/.
"""

from __future__ import annotations

from tui_helpers import SIZE, make_app, settle

from orchwatch.config import Config
from orchwatch.sources.base import Sources


def test_grid_on_the_incident_date(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(config, demo), terminal_size=SIZE, run_before=settle)


def test_grid_on_a_failed_date(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    async def go_back(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press(*"pppppppp")
        await settle(pilot)

    assert snap_compare(make_app(config, demo), terminal_size=SIZE, run_before=go_back)


def test_cell_detail(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    async def open_detail(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        # The grid opens on phase3's header (the phase that needs attention).
        await pilot.press("down", "down", "down", "down", "enter")
        await settle(pilot)

    assert snap_compare(make_app(config, demo), terminal_size=SIZE, run_before=open_detail)


def test_revision_history(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    async def open_history(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.dashboard.action_focus_revisions()
        pilot.app.query_one("#services").move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(config, demo), terminal_size=SIZE, run_before=open_history)


def test_revision_detail(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    async def open_detail(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        pilot.app.dashboard.action_focus_revisions()
        pilot.app.query_one("#services").move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(config, demo), terminal_size=SIZE, run_before=open_detail)


def test_log_tail_with_search(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    async def search(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("3", "l", "slash", *"ModuleNotFound", "enter")
        await settle(pilot)

    assert snap_compare(make_app(config, demo), terminal_size=SIZE, run_before=search)


def test_traceback_sample(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    async def open_sample(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("3", "enter")
        await settle(pilot)

    assert snap_compare(make_app(config, demo), terminal_size=SIZE, run_before=open_sample)


def test_walkthrough_failing_date(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    async def open_checklist(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("w")  # the selected date, 2026-02-01
        await settle(pilot)

    assert snap_compare(make_app(config, demo), terminal_size=SIZE, run_before=open_checklist)


def test_walkthrough_healthy_date(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    async def open_checklist(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("w", "p", "p", "p", "p")  # 2026-01-28
        await settle(pilot)

    assert snap_compare(make_app(config, demo), terminal_size=SIZE, run_before=open_checklist)


def test_small_terminal_one_pane_at_a_time(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    async def revisions(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)

    assert snap_compare(make_app(config, demo), terminal_size=(80, 24), run_before=revisions)


def test_large_terminal(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(config, demo), terminal_size=(200, 55), run_before=settle)


def _production(config: Config) -> Config:
    """`config` reading a production environment (the banner's colour, red)."""
    from dataclasses import replace

    from orchwatch.config import Environment, select_environment

    prod = Environment("prod", "nba-props-platform", "us-west2", "red", production=True)
    return select_environment(replace(config, environments={"prod": prod}), "prod")


def test_environment_banner_small(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    app = make_app(_production(config), demo)
    assert snap_compare(app, terminal_size=(80, 24), run_before=settle)


def test_environment_banner_large(snap_compare, config: Config, demo: Sources) -> None:  # type: ignore[no-untyped-def]
    app = make_app(_production(config), demo)
    assert snap_compare(app, terminal_size=(200, 55), run_before=settle)
