"""Seeding the loopback servers with a store's data and building orchwatch's Google Cloud
sources against them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from loopback import seed

from orchwatch.analysis.daily import CheckResult
from orchwatch.clock import Clock
from orchwatch.config import Config
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.gcp import build_gcp_sources
from orchwatch.sources.local import LocalStore

__all__ = ["Seeded", "gcp_sources", "seed_all", "walkthrough_check"]


@dataclass
class Seeded:
    """What was written to the servers."""

    dates: list[date]
    documents: int
    rows: dict[str, int]
    services: int
    entries: int


def gcp_sources(config: Config, project: str, clock: Clock) -> Sources:
    """orchwatch's Google Cloud sources for a project on the loopback servers."""
    return build_gcp_sources(config, project, clock)


def seed_all(loopback: object, config: Config, project: str, store: LocalStore) -> Seeded:
    """Copy everything in `store` into the local servers, under `project`."""
    writer = build_gcp_sources(config, project)  # its clients are the official ones
    try:
        clients = writer.completions.firestore.clients  # type: ignore[attr-defined]
        dates = seed.store_dates(store)
        documents = seed.seed_firestore(clients.firestore(), store, config, dates)
        rows = seed.seed_bigquery(clients.bigquery(), store, config.bigquery_dataset)
        services = seed.seed_run(loopback.grpc, store, config, project)  # type: ignore[attr-defined]
        entries = seed.seed_logging(loopback.grpc, store, config, project)  # type: ignore[attr-defined]
        seed.seed_pubsub(clients, loopback.grpc, store, config, project)  # type: ignore[attr-defined]
        seed.seed_scheduler(loopback.grpc, config, project, DEMO_START)  # type: ignore[attr-defined]
        seed.seed_builds(loopback.grpc, store, config, project)  # type: ignore[attr-defined]
        seed.seed_exports(loopback.storage, store, config, DEMO_START)  # type: ignore[attr-defined]
    finally:
        writer.close()
    return Seeded(dates, documents, rows, services, entries)


def walkthrough_check(config: Config, sources: Sources, day: date, check_id: str) -> CheckResult:
    """One check of the walkthrough of `day`, read from `sources`."""
    from orchwatch.analysis.daily import evaluate
    from orchwatch.gather import gather_daily

    [result] = [
        r for r in evaluate(gather_daily(config, sources, day), config.timezone) if r.id == check_id
    ]
    return result
