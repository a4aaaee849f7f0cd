"""Issue 17's filter figure: what the default Cloud Logging filter keeps and leaves out
of a mixed Cloud Run stream (request logs, the system log, stdout and stderr), read
through the official client from the local gRPC server, which evaluates the filter; and
(issue 23) what the crash-loop read's evidence filter keeps of the same stream.

The mix is one a busy Cloud Run service writes: a request log line per request, the
system log's starts and scaling at INFO, a few of its warnings (an exit), and the
application's own stdout and stderr with no severity (DEFAULT, as Cloud Run writes a
container's plain output), tracebacks among them.
"""

from __future__ import annotations

import random
from datetime import timedelta

MIX = (
    ("run.googleapis.com%2Frequests", "INFO", "GET /pubsub 204", 0.60),
    ("run.googleapis.com%2Fvarlog%2Fsystem", "INFO", "Starting new instance.", 0.15),
    ("run.googleapis.com%2Fvarlog%2Fsystem", "WARNING", "Container called exit(1).", 0.01),
    ("run.googleapis.com%2Fstdout", "DEFAULT", "Recorded completion of a processor", 0.14),
    ("run.googleapis.com%2Fstderr", "DEFAULT", "Traceback (most recent call last):", 0.05),
    ("run.googleapis.com%2Fstderr", "DEFAULT", "ModuleNotFoundError: No module named 'x'", 0.05),
)
ENTRIES = 10_000


def main() -> None:
    from dataclasses import replace

    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.model import LogEntry
    from orchwatch.sources.demo import DEMO_START
    from orchwatch.sources.gcp import build_gcp_sources
    from tests.loopback.grpc_server import LocalGcpServer
    from tests.loopback.seed import entry_proto

    print("Cloud Logging filter (issue 17)")
    project = "orchwatch-bench-filter"
    rng = random.Random(17)
    start = DEMO_START - timedelta(hours=1)
    protos = []
    counts = {(m[0], m[2]): 0 for m in MIX}
    services = ["phase3-to-phase4-orchestrator", "self-heal", "nba-phase3-analytics-processors"]
    for n in range(ENTRIES):
        log, severity, text, _ = rng.choices(MIX, weights=[m[3] for m in MIX])[0]
        service = rng.choice(services)
        at = start + timedelta(seconds=n * 3600 / ENTRIES)
        entry = LogEntry(at, severity, text, service, f"{service}-00001-abc", insert_id=f"f{n}")
        proto = entry_proto(entry, project, "us-west2")
        proto.log_name = f"projects/{project}/logs/{log}"
        protos.append(proto)
        counts[(log, text)] += 1
    server = LocalGcpServer().start()
    try:
        server.add_entries(protos)
        base = load_config(None)
        config = replace(
            base,
            gcp_project=project,
            gcp=replace(base.gcp, endpoints={"logging": server.endpoint}),
        )
        sources = build_gcp_sources(config, project, FrozenClock(DEMO_START))
        try:
            assert sources.logs is not None
            kept = sources.logs.fetch_log(start - timedelta(seconds=1), None)
            evidence = sources.logs.fetch_log(
                start - timedelta(seconds=1), None, evidence_only=True
            )
        finally:
            sources.close()
    finally:
        server.stop()
    kept_texts = {e.text for e in kept}
    evidence_texts = {e.text for e in evidence}
    print(f"  a mixed stream of {ENTRIES:,} entries, 3 services, one hour:")
    print(f"    {'log and severity':<40} {'lines':>6}  {'the tail':<9} crash evidence")
    for (log, text), written_count in counts.items():
        severity = next(m[1] for m in MIX if (m[0], m[2]) == (log, text))
        tail = "kept" if text in kept_texts else "left out"
        crash = "kept" if text in evidence_texts else "left out"
        name = f"{log.replace('%2F', '/').removeprefix('run.googleapis.com/')} {severity}"
        print(f"    {name + ' ' + text[:14]:<40} {written_count:>6,}  {tail:<9} {crash}")
    print(f"  the tail's filter: kept {len(kept):,}, left out {ENTRIES - len(kept):,}")
    tracebacks = sum(1 for e in kept if e.text.startswith("Traceback"))
    print(f"  traceback lines kept: {tracebacks} of {counts[MIX[4][0], MIX[4][2]]}")
    last_lines = sum(1 for e in evidence if e.text.startswith("ModuleNotFoundError"))
    print(
        f"  the crash-loop read (evidence filter): kept {len(evidence):,} of {ENTRIES:,}; "
        f"every traceback's last line at DEFAULT: {last_lines} of {counts[MIX[5][0], MIX[5][2]]}"
    )


if __name__ == "__main__":
    main()
