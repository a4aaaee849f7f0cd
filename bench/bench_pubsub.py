"""The Pub/Sub source (issue: Pub/Sub, see the hop where the completions were lost).

Prints:
- Cloud Monitoring calls per refresh of the Pub/Sub view on the local servers (the
  Pub/Sub emulator and the local MetricService), with 1, 10 and 50 subscriptions on
  the completion topic, and per minute at the 10 s refresh the view reads at; the goal
  is at most one call per metric (five) per refresh, whatever the number of
  subscriptions; the admin API's calls per refresh beside it;
- the time from process start to the Pub/Sub view's first data: the TUI on the demo
  (`P` pressed at the first frame), and the Google Cloud source's first reading on the
  local servers (the google libraries' import counted).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench.common import report

METRICS = 5
REFRESHES = 6
WINDOW = (datetime(2026, 2, 1, 5, tzinfo=UTC), datetime(2026, 2, 1, 11, 30, tzinfo=UTC))


def tui_child() -> None:
    """The dashboard on the demo; `P` at the first frame; print when the view has data."""
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.sources.demo import DEMO_START
    from orchwatch.sources.factory import SourceOptions, build_sources
    from orchwatch.tui.app import OrchwatchApp
    from orchwatch.tui.screens.pubsub import PubSubScreen

    config = load_config(None)
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))
    app = OrchwatchApp(config, sources, refresh_seconds=3600)

    async def drive() -> None:
        async with app.run_test(size=(160, 45)) as pilot:
            await pilot.press("P")
            while not (isinstance(app.screen, PubSubScreen) and app.screen.view is not None):
                await pilot.pause(0.005)
            print(json.dumps({"data_at": time.time()}), flush=True)

    asyncio.run(drive())


def gcp_child(pubsub_host: str, monitoring: str) -> None:
    """The Google Cloud source's first reading, from process start."""
    from orchwatch.analysis.pubsub import topics_of
    from orchwatch.config import GcpSettings, load_config
    from orchwatch.sources.gcp.clients import GcpClients
    from orchwatch.sources.gcp.pubsub import GcpPubSub

    config = load_config(None)
    endpoints = {"pubsub": pubsub_host, "monitoring": monitoring}
    clients = GcpClients("orchwatch-bench", "us-west2", GcpSettings(endpoints=endpoints))
    GcpPubSub(clients).read_pubsub(topics_of(config), *WINDOW)
    print(json.dumps({"data_at": time.time()}), flush=True)


def _from_start(argv: list[str]) -> float:
    started = time.time()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return float(json.loads(out.stdout.strip().splitlines()[-1])["data_at"]) - started


def main() -> None:
    from google.pubsub_v1 import PublisherClient, PushConfig, SubscriberClient
    from google.pubsub_v1 import Subscription as PbSubscription

    from orchwatch.analysis.pubsub import topics_of
    from orchwatch.config import GcpSettings, load_config
    from orchwatch.plural import counted
    from orchwatch.sources.gcp.clients import GcpClients
    from orchwatch.sources.gcp.pubsub import GcpPubSub
    from tests.loopback.emulators import start_pubsub
    from tests.loopback.grpc_server import LocalGcpServer
    from tests.loopback.monitoring import RawSeries

    print("Pub/Sub: Monitoring calls per refresh, and the time to the view's first data")
    emulator = start_pubsub()
    server = LocalGcpServer().start()
    config = load_config(None)
    endpoints = {"pubsub": emulator.host, "monitoring": server.endpoint}
    try:
        setup = GcpClients("orchwatch-bench", "us-west2", GcpSettings(endpoints=endpoints))
        publisher: PublisherClient = setup.pubsub_publisher()
        subscriber: SubscriberClient = setup.pubsub_subscriber()
        project = "projects/orchwatch-bench"
        for topic in topics_of(config):
            publisher.create_topic(name=f"{project}/topics/{topic}")
        made = 0
        for count in (1, 10, 50):
            while made < count:
                name = f"eventarc-us-west2-phase3-to-phase4-orchestrator-{made:03d}-sub-001"
                subscriber.create_subscription(
                    request=PbSubscription(
                        name=f"{project}/subscriptions/{name}",
                        topic=f"{project}/topics/nba-phase3-analytics-complete",
                        push_config=PushConfig(push_endpoint="http://127.0.0.1:9/"),
                    )
                )
                labels = {"project_id": "orchwatch-bench", "subscription_id": name}
                server.add_series(
                    RawSeries(
                        "pubsub.googleapis.com/subscription/push_request_count",
                        "pubsub_subscription",
                        labels,
                        {"response_class": "ack"},
                        points=[(WINDOW[0].replace(hour=6), 1.0)],
                    )
                )
                made += 1
            clients = GcpClients("orchwatch-bench", "us-west2", GcpSettings(endpoints=endpoints))
            source = GcpPubSub(clients)
            before = server.calls["ListTimeSeries"]
            for _ in range(REFRESHES):
                source.read_pubsub(topics_of(config), *WINDOW)
            per_refresh = (server.calls["ListTimeSeries"] - before) / REFRESHES
            admin = sum(n for (api, _), n in clients.meter.snapshot().items() if api == "pubsub")
            report(
                f"Monitoring calls per refresh, {counted(count, 'subscription')}",
                per_refresh,
                "calls",
                goal=METRICS,
            )
            print(
                f"    per minute at the 10 s refresh: {per_refresh * 6:.0f}; Pub/Sub admin calls: "
                f"{admin} in {REFRESHES} refreshes (the subscriptions are read once a minute)"
            )
        tui = _from_start([sys.executable, "-m", "bench.bench_pubsub", "--tui-child"])
        report("process start to the Pub/Sub view's first data (demo, TUI)", tui, "s")
        gcp = _from_start(
            [
                sys.executable,
                "-m",
                "bench.bench_pubsub",
                "--gcp-child",
                emulator.host,
                server.endpoint,
            ]
        )
        report("process start to the Google Cloud source's first reading", gcp, "s")
    finally:
        server.stop()
        emulator.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--tui-child"]:
        tui_child()
    elif sys.argv[1:2] == ["--gcp-child"]:
        gcp_child(sys.argv[2], sys.argv[3])
    else:
        main()
