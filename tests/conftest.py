"""Shared fixtures: the example config, a frozen clock at the demo's start, demo sources."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from orchwatch.clock import FrozenClock
from orchwatch.config import Config, load_config
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches (demo scenario, validator facts) live in a temporary folder for the run."""
    previous = os.environ.get("ORCHWATCH_CACHE_DIR")
    os.environ["ORCHWATCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("ORCHWATCH_CACHE_DIR", None)
    else:
        os.environ["ORCHWATCH_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def config() -> Config:
    """The example configuration (the pipeline in PIPELINE.md)."""
    return load_config(None)


@pytest.fixture
def clock() -> FrozenClock:
    """Scenario time frozen at the demo's start (2026-02-01 09:00 New York)."""
    return FrozenClock(DEMO_START)


@pytest.fixture
def demo(config: Config, clock: FrozenClock) -> Iterator[Sources]:
    """The demo sources on a frozen clock: deterministic for the fixed seed."""
    sources = build_sources(SourceOptions(demo=True), config, clock=clock)
    yield sources
    for closer in sources.closers:
        closer.close()  # type: ignore[attr-defined]
