"""`make gcp-local`: orchwatch on its Google Cloud sources, against local servers.

Starts the Firestore, BigQuery and Pub/Sub emulators and the local gRPC server
(Cloud Run, Cloud Logging, Cloud Monitoring), seeds them with the demo's data, writes a config
naming their endpoints, and opens the dashboard on it, as of the demo's
moment. `--serve` only starts and seeds them, prints the config's path, and
waits (for the headless verbs, `orchwatch snapshot` or `make bench`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from orchwatch.clock import FrozenClock
from orchwatch.config import GcpSettings, load_config
from orchwatch.sources.demo import DEMO_START, build_demo
from orchwatch.sources.gcp import build_gcp_sources

from . import seed
from .emulators import Emulator, EmulatorError, start_bigquery, start_firestore, start_pubsub
from .grpc_server import LocalGcpServer
from .log_analytics import seed_view
from .storage import LocalStorage

PROJECT = "orchwatch-local"
LINKED = "logs_linked"
"""The Log Analytics bucket's linked dataset."""


def start_and_seed(folder: Path) -> tuple[list[Emulator], LocalGcpServer, Path]:
    """Start the three servers, seed them with the demo, write the config."""
    print("starting the Firestore, BigQuery and Pub/Sub emulators and the local gRPC server…")
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(s) for s in (start_firestore, start_bigquery, start_pubsub)]
        emulators = []
        try:
            for future in futures:
                emulators.append(future.result())
        except EmulatorError:
            for started in emulators:
                started.stop()
            raise
    server = LocalGcpServer().start()
    storage = LocalStorage().start()  # a thread of this process: it ends with it
    endpoints = {
        "firestore": emulators[0].host,
        "bigquery": f"http://{emulators[1].host}",
        "run": server.endpoint,
        "logging": server.endpoint,
        "pubsub": emulators[2].host,
        "monitoring": server.endpoint,
        "scheduler": server.endpoint,
        "cloudbuild": server.endpoint,
        "storage": storage.endpoint,
    }
    config = load_config(None)
    config = replace(config, gcp_project=PROJECT, gcp=GcpSettings(endpoints=endpoints))
    store, _ = build_demo(config, FrozenClock(DEMO_START), cache_dir=folder / "demo")
    writer = build_gcp_sources(config, PROJECT)
    clients = writer.completions.firestore.clients  # type: ignore[attr-defined]
    dates = seed.store_dates(store)
    documents = seed.seed_firestore(clients.firestore(), store, config, dates)
    rows = seed.seed_bigquery(clients.bigquery(), store, config.bigquery_dataset)
    services = seed.seed_run(server, store, config, PROJECT)
    entries = seed.seed_logging(server, store, config, PROJECT)
    subscriptions = seed.seed_pubsub(clients, server, store, config, PROJECT)
    seed.seed_scheduler(server, config, PROJECT, DEMO_START)
    seed.seed_builds(server, store, config, PROJECT)
    seed.seed_exports(storage, store, config, DEMO_START)
    # The same entries in a Log Analytics view, for `errors --since 7d` through BigQuery.
    seed_view(clients.bigquery(), f"{PROJECT}.{LINKED}._AllLogs", list(server.entries))
    writer.close()
    store.close()
    print(
        f"seeded project {PROJECT}: {documents} Firestore documents, "
        f"{sum(rows.values())} BigQuery rows, {services} Cloud Run services, "
        f"{entries} log entries, {subscriptions} Pub/Sub subscriptions"
    )
    analytics = f'\n[gcp.log_analytics]\ndataset = "{PROJECT}.{LINKED}"\n'
    return emulators, server, seed.write_config(folder, endpoints, PROJECT, analytics)


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m tests.loopback", description=__doc__)
    parser.add_argument("--serve", action="store_true", help="start and seed, then wait")
    parser.add_argument("--dir", help="where to write the config (default: a temporary folder)")
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="orchwatch-local-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        emulators, server, config = start_and_seed(folder)
    except EmulatorError as exc:
        print(f"a local server could not start: {exc}", file=sys.stderr)
        return 1
    as_of = DEMO_START.strftime("%Y-%m-%dT%H:%M")
    command = [sys.executable, "-m", "orchwatch", "--config", str(config), "--as-of", as_of]
    try:
        if args.serve:
            print(f"config: {config}\ntry:    orchwatch --config {config} --as-of {as_of}")
            print("press Ctrl+C to stop the servers")
            threading.Event().wait()
        else:
            return subprocess.call(command)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        for emulator in emulators:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
