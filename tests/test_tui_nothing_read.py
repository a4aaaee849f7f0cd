"""Silence is never health on the dashboard either: with every source refusing
connections, the status bar says nothing was read (not "loading…" forever, never an age
of data that never came), and each pane shows its source's error."""

from __future__ import annotations

import socket
from pathlib import Path

from loopback.seed import write_config
from tui_helpers import SIZE, make_app, wait_for

from orchwatch.clock import FrozenClock
from orchwatch.config import load_config
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources
from orchwatch.tui.widgets.status_bar import StatusBar


async def test_every_source_refused_is_nothing_read(tmp_path: Path) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: every connection is refused
    where = f"127.0.0.1:{closed.getsockname()[1]}"
    endpoints = {"firestore": where, "bigquery": f"http://{where}", "run": where}
    config = load_config(write_config(tmp_path, {**endpoints, "logging": where}, "refused"))
    sources = build_sources(SourceOptions(project="refused"), config, clock=FrozenClock(DEMO_START))
    app = make_app(config, sources)
    try:
        async with app.run_test(size=SIZE) as pilot:
            status = app.query_one(StatusBar)
            assert await wait_for(pilot, lambda: status.nothing_read)
            shown = str(status.render())
            assert "nothing read" in shown and "updated" not in shown
            assert "unavailable" in shown
    finally:
        sources.close()
        closed.close()


def test_no_listener_is_opened_on_a_firestore_that_refuses(tmp_path: Path) -> None:
    """Against a refused endpoint the library's Listen stream reopens at once, again and
    again, and spins a core: a listener is opened only once a read has answered."""
    from datetime import date

    from orchwatch.sources.base import SourceError

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    where = f"127.0.0.1:{closed.getsockname()[1]}"
    config = load_config(write_config(tmp_path, {"firestore": where}, "refused"))
    sources = build_sources(SourceOptions(project="refused"), config, clock=FrozenClock(DEMO_START))
    completions = sources.completions
    try:
        day = date(2026, 2, 1)
        completions.watch_date(day, lambda: None)  # type: ignore[attr-defined]
        firestore = completions.firestore  # type: ignore[attr-defined]
        assert firestore.mode == "reading" and firestore.watching is None
        try:
            firestore.documents([day])
        except SourceError:
            pass
        else:
            raise AssertionError("a refused Firestore answered")
        assert firestore.mode == "reading" and firestore.watching is None  # still none
    finally:
        sources.close()
        closed.close()
