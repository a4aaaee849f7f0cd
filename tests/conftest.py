"""Shared fixtures: the example config, a frozen clock at the demo's start, demo sources."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import pytest
from gcp_helpers import Seeded
from loopback.emulators import (
    Emulator,
    EmulatorError,
    start_bigquery,
    start_firestore,
    start_pubsub,
)
from loopback.grpc_server import LocalGcpServer
from loopback.storage import LocalStorage

from orchwatch.clock import FrozenClock
from orchwatch.config import Config, load_config
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources
from orchwatch.sources.local import LocalStore


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


@pytest.fixture(scope="session", autouse=True)
def terminal_size_from_the_terminal() -> None:
    """pytest-xdist's workers run with COLUMNS=80 and LINES=24 in their environment, which
    Textual prefers to the terminal's own size: a dashboard started on a pty of 120x35
    would draw at 80x24. Programs the tests start size themselves by their terminal."""
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


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


# --- Google Cloud over loopback: real servers, started once per run --------------------------


@dataclass
class Loopback:
    """The local servers of a test run and how to point orchwatch at them."""

    firestore: Emulator
    bigquery: Emulator
    pubsub: Emulator
    grpc: LocalGcpServer
    storage: LocalStorage

    def endpoints(self) -> dict[str, str]:
        """`[gcp.endpoints]` for these servers."""
        return {
            "firestore": self.firestore.host,
            "bigquery": f"http://{self.bigquery.host}",
            "run": self.grpc.endpoint,
            "logging": self.grpc.endpoint,
            "pubsub": self.pubsub.host,
            "monitoring": self.grpc.endpoint,
            "scheduler": self.grpc.endpoint,
            "cloudbuild": self.grpc.endpoint,
            "storage": self.storage.endpoint,
        }

    def config(self, base: Config, project: str, **gcp: object) -> Config:
        """`base` with the project and the endpoints of these servers."""
        settings = replace(base.gcp, endpoints=self.endpoints(), **gcp)  # type: ignore[arg-type]
        return replace(base, gcp_project=project, gcp=settings)


@pytest.fixture(scope="session")
def loopback() -> Iterator[Loopback]:
    """The Firestore, BigQuery and Pub/Sub emulators and the local gRPC server (Cloud Run,
    Cloud Logging, Cloud Monitoring).

    Started in parallel (about 5 s). A server that cannot start fails the tests that need it
    with the reason; they are never skipped.
    """
    with ThreadPoolExecutor(3) as pool:
        firestore = pool.submit(start_firestore)
        bigquery = pool.submit(start_bigquery)
        pubsub = pool.submit(start_pubsub)
        started: list[Emulator] = []
        errors: list[str] = []
        for future in (firestore, bigquery, pubsub):
            try:
                started.append(future.result())
            except EmulatorError as exc:
                errors.append(str(exc))
    if errors:
        for emulator in started:
            emulator.stop()
        pytest.fail("a loopback server could not start:\n" + "\n".join(errors), pytrace=False)
    server = LocalGcpServer().start()
    storage = LocalStorage().start()
    try:
        yield Loopback(started[0], started[1], started[2], server, storage)
    finally:
        storage.stop()
        server.stop()
        for emulator in started:
            emulator.stop()


_projects = itertools.count(1)


@pytest.fixture
def gcp_project(loopback: Loopback) -> str:
    """A project id of its own for each test: the servers keep projects apart."""
    return f"orchwatch-test-{next(_projects):03d}"


@pytest.fixture(scope="session")
def seeded_world(loopback: Loopback, config: Config) -> Iterator[tuple[Config, Sources, Seeded]]:
    """The demo frozen at its start and the same data on the servers (seeded once a run)."""
    from gcp_helpers import seed_all

    project = "orchwatch-world"
    gcp_config = loopback.config(config, project)
    demo = build_sources(SourceOptions(demo=True), gcp_config, clock=FrozenClock(DEMO_START))
    assert isinstance(demo.completions, LocalStore)
    seeded = seed_all(loopback, gcp_config, project, demo.completions)
    yield gcp_config, demo, seeded
    demo.close()


@pytest.fixture
def world(
    seeded_world: tuple[Config, Sources, Seeded],
) -> Iterator[tuple[Config, Sources, Sources, Seeded]]:
    """(config, demo sources, Google Cloud sources on the servers, what was seeded).

    The Google Cloud sources are new for each test: their caches and their Logging call
    budget (6 a minute) are their own.
    """
    from gcp_helpers import gcp_sources

    config, demo, seeded = seeded_world
    gcp = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    yield config, demo, gcp, seeded
    gcp.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With pytest-xdist (`make test` runs two workers), every test that needs the local
    servers runs on one worker, so the emulators start once, not once per worker."""
    for item in items:
        if "loopback" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("loopback"))
