"""`errors --since 7d` on a busy project: Log Analytics against the Logging API path
(issue: Google Cloud at production scale).

A week of a 47-function project, synthetic and seeded (`ORCHWATCH_BENCH_ENTRIES`, default
1,000,000 entries): plain stdout lines, structured INFO lines and, in 2 % of the entries,
tracebacks written one line per entry, interleaved between instances. The same entries are
served by the local Logging server and held in an `_AllLogs`-shaped table on the BigQuery
emulator. The API path pages them all (its entry cap and call budget lifted); the Log
Analytics path groups in SQL. The groups must be identical; times, entries and bytes
are printed side by side.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import report

ENTRIES = int(os.environ.get("ORCHWATCH_BENCH_ENTRIES", "1000000"))
SERVICES = 47
PROJECT = "orchwatch-bench-la"
NOW = datetime(2026, 2, 8, 12, 0, tzinfo=UTC)
EXCEPTIONS = [
    ("ModuleNotFoundError", "No module named 'shared.validation.phase3_data_quality_check'"),
    ("KeyError", "'min'"),
    ("ValueError", "invalid literal for int() with base 10: 'DNP'"),
    ("TimeoutError", "read timed out after 30.5s"),
    ("google.api_core.exceptions.NotFound", "404 Table nba_analytics.x_{n} not found"),
    ("RuntimeError", "game 00225{n:05d} is final but has no box score"),
]
Raw = tuple[datetime, str, str, str, str | None, dict[str, Any] | None, str]
"""(timestamp, service, instance, severity, text, json payload, insert id)"""


def synthetic(count: int, seed: int = 29) -> list[Raw]:
    """A week of entries. A traceback is written as Cloud Run writes one: a line per entry,
    a millisecond apart, with another instance's line in the middle of it."""
    rng = random.Random(seed)
    start = NOW - timedelta(days=7)
    step = timedelta(days=7) / count
    raws: list[Raw] = []
    n = 0
    while len(raws) < count:
        at = start + step * len(raws)
        service = f"function-{rng.randrange(SERVICES):02d}"
        instance = f"00{rng.randrange(4)}"
        n += 1
        roll = rng.random()
        if roll < 0.004:
            kind, message = EXCEPTIONS[rng.randrange(len(EXCEPTIONS))]
            lines = ["Traceback (most recent call last):"]
            lines += [
                f'  File "/workspace/step_{k}.py", line {rng.randrange(9, 99)}, in run_{k}'
                for k in range(rng.randrange(1, 4))
            ]
            lines.append(f"{kind}: {message.format(n=rng.randrange(99))}")
            for k, line in enumerate(lines):
                moment = at + timedelta(milliseconds=k)
                raws.append((moment, service, instance, "DEFAULT", line, None, f"b{n:09d}{k}"))
                if k == 1:
                    other = f"{service} instance 009 still serving"
                    raws.append((moment, service, "009", "DEFAULT", other, None, f"b{n:09d}x"))
        elif roll < 0.6:
            text = f"processed game 00225{rng.randrange(99999):05d}: {rng.randrange(500)} rows"
            raws.append((at, service, instance, "DEFAULT", text, None, f"b{n:09d}"))
        else:
            payload = {"message": f"phase step {rng.randrange(9)} done", "rows": rng.randrange(99)}
            raws.append((at, service, instance, "INFO", None, payload, f"b{n:09d}"))
    return raws[:count]


def to_proto(raw: Raw) -> Any:
    """The entry as the Logging API holds it."""
    from google.cloud.logging_v2.types import LogEntry
    from google.logging.type import log_severity_pb2
    from google.protobuf import struct_pb2

    at, service, instance, severity, text, payload, insert_id = raw
    entry = LogEntry(
        log_name=f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
        resource={
            "type": "cloud_run_revision",
            "labels": {"service_name": service, "revision_name": f"{service}-00001-abc"},
        },
        timestamp=at,
        severity=log_severity_pb2.LogSeverity.Value(severity),
        insert_id=insert_id,
        labels={"instanceId": instance},
    )
    if payload is not None:
        struct = struct_pb2.Struct()
        struct.update(payload)
        entry.json_payload = struct
    else:
        entry.text_payload = text
    return entry


def to_row(raw: Raw) -> dict[str, Any]:
    """The entry as its row of the Log Analytics view (`tests/loopback/log_analytics.py`)."""
    at, service, instance, severity, text, payload, insert_id = raw
    stamp = at.isoformat().replace("+00:00", "Z")
    return {
        "timestamp": stamp,
        "receive_timestamp": stamp,
        "log_name": f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout",
        "log_id": "run.googleapis.com/stdout",
        "resource": {
            "type": "cloud_run_revision",
            "labels": json.dumps(
                {"service_name": service, "revision_name": f"{service}-00001-abc"}
            ),
        },
        "text_payload": text,
        "json_payload": json.dumps(payload) if payload is not None else None,
        "severity": None if severity == "DEFAULT" else severity,
        "severity_number": None if severity == "DEFAULT" else 200,
        "labels": json.dumps({"instanceId": instance}),
        "insert_id": insert_id,
    }


READ_COLUMNS = (
    "timestamp",
    "insert_id",
    "resource",
    "labels",
    "severity",
    "severity_number",
    "text_payload",
    "json_payload",
    "log_id",
)
"""The view's columns the query reads."""


def scanned_bytes(row: dict[str, Any]) -> int:
    """What BigQuery bills for reading `row`'s columns the query reads, by its documented
    data sizes: STRING 2 bytes + its UTF-8 length, TIMESTAMP and INT64 8, JSON its UTF-8
    length, NULL 0."""
    total = 0
    for column in READ_COLUMNS:
        value = row[column]
        if column == "resource":
            total += 2 + len(value["type"]) + len(value["labels"].encode())
        elif value is None:
            continue
        elif column in ("timestamp", "severity_number"):
            total += 8
        elif column in ("labels", "json_payload"):
            total += len(value.encode())
        else:
            total += 2 + len(value.encode())
    return total


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from google.cloud import bigquery
    from loopback.emulators import start_bigquery
    from loopback.grpc_server import LocalGcpServer
    from loopback.log_analytics import SCHEMA

    from orchwatch.clock import FrozenClock
    from orchwatch.config import LogAnalytics, load_config
    from orchwatch.gather import gather_errors
    from orchwatch.render import errors_json
    from orchwatch.sources.gcp import build_gcp_sources
    from orchwatch.sources.gcp.bigquery import format_bytes
    from orchwatch.sources.gcp.clients import RateLimiter
    from orchwatch.sources.gcp.logs import build_filter

    print(f"errors --since 7d: {ENTRIES:,} entries of {SERVICES} services")
    began = time.perf_counter()
    raws = synthetic(ENTRIES)
    server = LocalGcpServer().start()
    emulator = start_bigquery()
    try:
        protos = [to_proto(r) for r in raws]
        wire = sum(type(p).pb(p).ByteSize() for p in protos)
        server.add_entries(protos)
        del protos
        view = f"{PROJECT}.logs_linked._AllLogs"
        base = load_config(None)
        gcp = replace(
            base.gcp,
            endpoints={
                "logging": server.endpoint,
                "run": server.endpoint,
                "bigquery": f"http://{emulator.host}",
            },
            log_read_max_entries=1_000_000,
            maximum_bytes_billed=10**12,
        )
        config = replace(base, gcp_project=PROJECT, gcp=gcp)
        writer = build_gcp_sources(config, PROJECT)
        client = writer.completions.bigquery.clients.bigquery()  # type: ignore[attr-defined]
        client.create_dataset(f"{PROJECT}.logs_linked")
        table = client.create_table(bigquery.Table(view, schema=SCHEMA))
        scanned = 0
        for start in range(0, len(raws), 20_000):
            rows = [to_row(r) for r in raws[start : start + 20_000]]
            scanned += sum(scanned_bytes(row) for row in rows)
            errors = client.insert_rows_json(table, rows, retry=None)
            assert not errors, errors[:3]
        writer.close()
        print(f"  seeded both servers in {time.perf_counter() - began:.0f} s")
        # The local server scans its entries once per filter (Google's store is indexed):
        # that scan is done before the API path is timed.
        since = NOW - timedelta(days=7)
        query = build_filter((), "", since, request_logs=False, run_names=[])
        began = time.perf_counter()
        server.listing([f"projects/{PROJECT}"], None, query, "timestamp desc")
        scan = time.perf_counter() - began
        print(f"  the local Logging server's own scan (not timed): {scan:.0f} s")

        analytics = LogAnalytics(f"{PROJECT}.logs_linked", "_AllLogs", timedelta(hours=6))
        with_analytics = replace(config, gcp=replace(gcp, log_analytics=analytics))

        def run(cfg: Any) -> tuple[Any, float]:
            sources = build_gcp_sources(cfg, PROJECT, FrozenClock(NOW))
            sources.logs.limiter = RateLimiter(1_000_000)  # type: ignore[union-attr]
            try:
                start = time.perf_counter()
                result = gather_errors(cfg, sources, timedelta(days=7))
                return result, time.perf_counter() - start
            finally:
                sources.close()

        api, api_seconds = run(config)
        la, la_seconds = run(with_analytics)
        same = [g for g in json.loads(errors_json(api))["groups"]] == [
            g for g in json.loads(errors_json(la))["groups"]
        ]
        print(f"  Logging API:   {api.how}")
        print(f"  Log Analytics: {la.how}")
        report("Logging API path: errors --since 7d", api_seconds, "s")
        report("Log Analytics path: errors --since 7d", la_seconds, "s")
        report("speed-up (API path time / Log Analytics time)", api_seconds / la_seconds, "x")
        report("entries covered, both paths", float(la.entries), "entries")
        print(
            f"  bytes: the API path moved {format_bytes(wire)} of entries over the wire; Log "
            f"Analytics scans {format_bytes(scanned)} in BigQuery (its documented data sizes "
            "over the columns read; the emulator's dry run says 0 B), billed at least 10 MB"
        )
        report("groups", float(len(la.groups)), "groups")
        print(f"  groups identical on both paths: {'yes' if same else 'NO'}")
        if not same or api.entries != la.entries:
            raise SystemExit(1)
    finally:
        server.stop()
        emulator.stop()
