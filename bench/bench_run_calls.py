"""Cloud Run calls per refresh (issue: Google Cloud at production scale).

On the local gRPC server: 50 services of 200 revisions each (1,000 would be Cloud Run's
cap). The first read lists every service's revisions; a refresh with nothing changed
costs one ListServices; a refresh after one service changed lists that one's revisions
again. The same figures for the way orchwatch read before (GetService and a paged
ListRevisions per service, every refresh) are computed from its call pattern.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from bench.common import report

SERVICES = 50
REVISIONS = 200


def main() -> None:
    from google.cloud import run_v2

    from orchwatch.config import GcpSettings
    from orchwatch.sources.gcp.clients import GcpClients
    from orchwatch.sources.gcp.run import PAGE_SIZE, RunRevisions
    from tests.loopback.grpc_server import LocalGcpServer

    print(f"Cloud Run: calls per refresh, {SERVICES} services x {REVISIONS} revisions")
    server = LocalGcpServer().start()
    region = "us-west2"
    parent = f"projects/orchwatch-bench/locations/{region}"
    names = [f"service-{k:02d}" for k in range(SERVICES)]
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def put(name: str, count: int) -> None:
        path = f"{parent}/services/{name}"
        revisions = [
            run_v2.Revision(
                name=f"{path}/revisions/{name}-{n:05d}-abc",
                service=path,
                create_time=start + timedelta(hours=n),
            )
            for n in range(1, count + 1)
        ]
        latest = revisions[-1].name
        server.put_service(
            run_v2.Service(
                name=path,
                latest_created_revision=latest,
                latest_ready_revision=latest,
                etag=f'"{count}"',
            ),
            revisions,
        )

    try:
        for name in names:
            put(name, REVISIONS)
        settings = GcpSettings(endpoints={"run": server.endpoint})
        clients = GcpClients("orchwatch-bench", region, settings)
        source = RunRevisions(clients)

        def refresh() -> tuple[int, float]:
            before = sum(server.calls.values())
            began = time.perf_counter()
            source.fetch_services(names)
            return sum(server.calls.values()) - before, time.perf_counter() - began

        first, first_s = refresh()
        same, same_s = refresh()
        put(names[7], REVISIONS + 1)  # one deploy
        changed, changed_s = refresh()
        pages = -(-REVISIONS // PAGE_SIZE)
        report("calls, first read", first, "calls")
        report("calls per refresh, nothing changed", same, "calls", goal=1)
        report("calls per refresh, one service deployed", changed, "calls")
        print(
            f"    time: first {first_s * 1000:.0f} ms, unchanged {same_s * 1000:.0f} ms, "
            f"one changed {changed_s * 1000:.0f} ms"
        )
        print(
            f"    before: every refresh was {SERVICES} GetService + {SERVICES * pages} "
            f"ListRevisions = {SERVICES * (1 + pages)} calls "
            f"({SERVICES * (1 + -(-1000 // PAGE_SIZE))} at 1,000 revisions each)"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
