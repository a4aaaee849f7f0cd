"""The dashboard on the Google Cloud sources (loopback servers seeded with the demo's data):
the same screen as on the demo, and failures shown per pane while the others keep working."""

from __future__ import annotations

from typing import Any

from conftest import Loopback
from gcp_helpers import Seeded, gcp_sources
from textual.widgets import DataTable
from tui_helpers import SIZE, make_app, settle, wait_for

from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START
from orchwatch.tui.widgets.completion_grid import CompletionGrid
from orchwatch.tui.widgets.logs import ErrorGroupTable
from orchwatch.tui.widgets.revisions import ServiceTable

World = tuple[Config, Sources, Sources, Seeded]


def table_rows(table: DataTable[Any]) -> list[list[str]]:
    return [
        [getattr(cell, "plain", str(cell)) for cell in table.get_row_at(i)]
        for i in range(table.row_count)
    ]


async def screen_of(config: Config, sources: Sources) -> dict[str, Any]:
    app = make_app(config, sources, initial_date=DEMO_START.date())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert await wait_for(pilot, lambda: app.dashboard.panes_ready)
        await settle(pilot)
        return {
            "grid": table_rows(app.query_one(CompletionGrid)),
            "services": table_rows(app.query_one(ServiceTable)),
            "groups": [row[1:] for row in table_rows(app.query_one(ErrorGroupTable))],
            "errors": [
                str(app.query_one(s).border_subtitle)
                for s in ("#completions", "#revisions", "#logs")
            ],
        }


async def test_the_panes_show_what_they_show_on_the_demo(world: World) -> None:
    config, demo, gcp, _ = world
    want = await screen_of(config, demo)
    got = await screen_of(config, gcp)
    assert got["errors"] == ["", "", ""]
    assert got["grid"] == want["grid"]
    assert got["services"] == want["services"]
    assert got["groups"] == want["groups"]
    assert any("Firestore 3/5 ≠ BigQuery 5/5" in " ".join(row) for row in got["grid"])
    assert got["services"][0][1].startswith("phase3-to-phase4")  # the name cut to fit


async def test_permission_denied_shows_in_its_pane_only(loopback: Loopback, world: World) -> None:
    config, _, _, _ = world
    sources = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    loopback.grpc.deny = {"ListServices", "GetService"}  # no role on Cloud Run at all
    try:
        app = make_app(config, sources, initial_date=DEMO_START.date())
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            revisions = app.query_one("#revisions")
            assert await wait_for(pilot, lambda: revisions.has_class("-error"))
            subtitle = str(revisions.border_subtitle)
            assert "permission denied" in subtitle and "roles/run.viewer" in subtitle
            assert not app.query_one("#completions").has_class("-error")
            assert app.query_one(CompletionGrid).row_count > 0
    finally:
        loopback.grpc.deny = set()
        sources.close()


async def test_a_server_killed_mid_session_is_an_error_state_until_it_is_back(
    loopback: Loopback, world: World
) -> None:
    config, _, _, _ = world
    sources = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    app = make_app(config, sources, initial_date=DEMO_START.date(), refresh_seconds=0.5)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            revisions = app.query_one("#revisions")
            assert await wait_for(pilot, lambda: app.query_one(ServiceTable).row_count == 6)
            loopback.grpc.stop()
            try:
                assert await wait_for(pilot, lambda: revisions.has_class("-error"))
                subtitle = str(revisions.border_subtitle)
                assert "Cloud Run" in subtitle and "showing data from" in subtitle
                assert app.query_one(ServiceTable).row_count == 6  # the last good data stays
                assert not app.query_one("#completions").has_class("-error")
            finally:
                loopback.grpc.start()
            assert await wait_for(pilot, lambda: not revisions.has_class("-error"))
            assert str(revisions.border_subtitle) == ""
    finally:
        sources.close()
