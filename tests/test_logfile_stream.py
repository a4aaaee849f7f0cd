"""`orchwatch errors --from-file` reads a file once, in bounded memory, in either time order,
and finds what reading the whole file into memory finds (issue: a 1 GB file took 6 GB)."""

from __future__ import annotations

import json
import random
import string
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchwatch.analysis.tracebacks import (
    CHAIN_LINES,
    Reassembler,
    StreamReassembler,
    continues_traceback,
    group_lines,
)
from orchwatch.cli import main
from orchwatch.gather import file_errors
from orchwatch.model import LogEntry, TracebackEvent, log_line
from orchwatch.sources.demo.logs import CHAINED, CRASH
from orchwatch.sources.logfile import LogReader, read_log_file

T0 = datetime(2026, 2, 1, 12, tzinfo=UTC)

TRACEBACKS = {  # the demo's own shapes (a crash at import, a chain) and a gRPC error's
    "ModuleNotFoundError": CRASH,
    "RuntimeError": CHAINED.format(game="0022500777"),
    "google.api_core.exceptions.ServiceUnavailable": """Traceback (most recent call last):
  File "/workspace/main.py", line 30, in publish
    return callable_(*args, **kwargs)
grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:
\tstatus = StatusCode.UNAVAILABLE
\tdetails = "failed to connect to all addresses"
>

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/workspace/main.py", line 33, in publish
    raise exceptions.from_grpc_error(exc) from exc
google.api_core.exceptions.ServiceUnavailable: 503 failed to connect to all addresses""",
}
NOISE = ("processed batch 17 for phase3", "Processing failed for game_date=2026-02-01", "200 GET /")


def scenario(seed: int, tracebacks: int) -> tuple[list[LogEntry], Counter[str]]:
    """Instances writing tracebacks a line per entry, interleaved with each other and with
    noise; some tracebacks whole in one entry; an indented line right after noise (which
    must not be taken as the end of the traceback before the noise)."""
    rng = random.Random(seed)
    entries: list[LogEntry] = []
    expected: Counter[str] = Counter()
    at = T0
    for n in range(tracebacks):
        instance = f"i{rng.randint(0, 3)}"
        kind = rng.choice(sorted(TRACEBACKS))
        expected[kind] += 1
        text = TRACEBACKS[kind]
        at += timedelta(milliseconds=rng.randint(100, 3000))  # one instance: one at a time
        if rng.random() < 0.2:
            entries.append(LogEntry(at, "ERROR", text, "svc", "svc-00007", instance, f"w{n}"))
        else:
            step = rng.choice((0, 250))  # 0: every line at one timestamp, in insertId order
            for k, line in enumerate(text.splitlines()):
                moment = at + timedelta(microseconds=k * step)
                entries.append(
                    LogEntry(moment, "ERROR", line, "svc", "svc-00007", instance, f"t{n}.{k:02d}")
                )
        for k in range(rng.randint(0, 6)):  # other instances, meanwhile
            noisy = rng.choice([i for i in ("i0", "i1", "i2", "i3") if i != instance])
            moment = at + timedelta(milliseconds=rng.randint(0, 40))
            entries.append(
                LogEntry(moment, "INFO", rng.choice(NOISE), "svc", "svc-00007", noisy, f"n{n}.{k}")
            )
        if rng.random() < 0.1:  # noise, then an indented line: two things, not one traceback
            moment = at + timedelta(milliseconds=60)
            entries.append(
                LogEntry(moment, "INFO", "request finished", "svc", "svc-00007", instance, f"d{n}")
            )
            entries.append(
                LogEntry(
                    moment + timedelta(milliseconds=1),
                    "INFO",
                    "    details follow",
                    "svc",
                    "svc-00007",
                    instance,
                    f"e{n}",
                )
            )
    return entries, expected


def oracle(entries: list[LogEntry]) -> list[TracebackEvent]:
    """The live tail's reassembler on the whole set, sorted: a separate path to the answer."""
    machine = Reassembler(window=timedelta(0))
    events = machine.feed(sorted(entries, key=lambda e: (e.timestamp, e.insert_id)))
    return events + machine.flush()


def summary(events: list[TracebackEvent]) -> Counter[tuple[str, str, datetime, str]]:
    return Counter((e.exception_type, e.instance, e.timestamp, e.text) for e in events)


def batches(entries: list[LogEntry], size: int) -> Iterator[list[Any]]:
    lines = [log_line(e) for e in entries]
    for start in range(0, len(lines), size):
        yield lines[start : start + size]


@pytest.mark.parametrize("order", ["oldest first", "newest first", "newest first, jittered"])
def test_a_stream_in_either_order_finds_what_the_whole_set_holds(order: str) -> None:
    entries, expected = scenario(seed=7, tracebacks=400)
    ordered = sorted(entries, key=lambda e: (e.timestamp, e.insert_id))
    if order != "oldest first":
        ordered.reverse()  # as gcloud prints
    if order == "newest first, jittered":  # swap neighbours: out of order well within 2 s
        rng = random.Random(1)
        for i in range(0, len(ordered) - 1, 3):
            if rng.random() < 0.5:
                ordered[i], ordered[i + 1] = ordered[i + 1], ordered[i]
    stream = StreamReassembler()
    events: list[TracebackEvent] = []
    for batch in batches(ordered, 97):
        events += stream.add(batch)
    events += stream.finish()
    assert summary(events) == summary(oracle(entries))
    assert Counter(e.exception_type for e in events) == expected
    assert stream.earliest == min(e.timestamp for e in entries)


def test_memory_holds_the_open_tracebacks_not_the_stream() -> None:
    entries, expected = scenario(seed=11, tracebacks=3000)
    end = max(e.timestamp for e in entries)
    writing = {(e.instance, e.timestamp.replace(microsecond=0)) for e in entries}
    busy = T0 + timedelta(microseconds=1)
    while busy < end:  # every instance busy all along: its noise never leaves a 5 s gap
        for instance in ("i0", "i1", "i2", "i3"):
            if (instance, busy.replace(microsecond=0)) not in writing:  # not mid-traceback
                entries.append(LogEntry(busy, "INFO", "ok", "svc", "svc-00007", instance, "b"))
        busy += timedelta(milliseconds=250)
    stream = StreamReassembler()
    most = 0
    found: Counter[str] = Counter()
    for batch in batches(sorted(entries, key=lambda e: e.timestamp, reverse=True), 500):
        found.update(e.exception_type for e in stream.add(batch))
        most = max(most, stream.held)
    found.update(e.exception_type for e in stream.finish())
    assert found == expected
    assert len(entries) > 50_000
    assert most < 1_500  # a batch and what is still open, never the whole stream


def test_a_line_the_filter_drops_ends_the_traceback_in_every_state() -> None:
    """The stream drops lines `continues_traceback` rejects, keeping only the fact that they
    ended their instance's traceback: for that to be exact, each such line must end an open
    traceback in every state of the machine, and start none."""
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + " :._|+>\t'\"()[]{}=-"
    lines = [
        *NOISE,
        "foo:bar",
        "x y: z",
        "OK",
        "{json}",
        "é accented",
        *("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(3000)),
    ]
    openers = {
        "body": ["Traceback (most recent call last):", '  File "/w/main.py", line 1, in f'],
        "after_final": ["Traceback (most recent call last):", "  x", "ValueError: bad"],
        "chain": ["Traceback (most recent call last):", "  x", "ValueError: bad", "", *CHAIN_LINES][
            :5
        ],
        "group": ["  + Exception Group Traceback (most recent call last):", "  | x"],
    }
    dropped = [line for line in lines if not continues_traceback(line)]
    assert len(dropped) > 1000
    key = ("svc", "r", "i")
    for line in dropped:
        for state, opener in openers.items():
            machine = Reassembler()
            for text in opener:
                machine._line(key, text, LogEntry(T0, "ERROR", text, *key, "x"))
            assert machine._open[key].phase == state
            machine._line(key, line, LogEntry(T0, "ERROR", line, *key, "y"))
            assert key not in machine._open, (state, line)


def gcloud_record(entry: LogEntry) -> dict[str, Any]:
    return {
        "insertId": entry.insert_id,
        "labels": {"instanceId": entry.instance},
        "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
        "resource": {
            "labels": {"revision_name": entry.revision, "service_name": entry.service},
            "type": "cloud_run_revision",
        },
        "severity": entry.severity,
        "textPayload": entry.text,
        "timestamp": entry.timestamp.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.parametrize("shape", ["gcloud array", "json lines"])
def test_a_file_over_many_blocks_reads_as_the_whole(tmp_path: Path, shape: str) -> None:
    entries, expected = scenario(seed=3, tracebacks=2500)
    records = [gcloud_record(e) for e in sorted(entries, key=lambda e: e.timestamp)][::-1]
    noise = [n for n, r in enumerate(records) if r["severity"] == "INFO"]
    records[noise[len(noise) // 2]]["severity"] = None  # one bad record, mid-file
    path = tmp_path / "logs.json"
    if shape == "gcloud array":
        path.write_text(json.dumps(records, indent=2))
    else:
        path.write_text("\n".join(json.dumps(r) for r in records))
    assert path.stat().st_size > 3 * 2**20  # several of the reader's blocks
    with path.open("rb") as handle:
        reader = LogReader(handle.read)
        view = file_errors(reader, str(path))
    assert view.entries == len(entries) - 1 and view.skipped == 1
    whole, _ = group_lines([[log_line(e) for e in read_log_file(str(path)).entries]])
    assert [(g.fingerprint, g.count) for g in view.groups] == [
        (g.fingerprint, g.count) for g in whole
    ]
    assert Counter({g.exception_type: g.count for g in view.groups}) == expected


def test_service_narrows_a_file_to_that_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [
        LogEntry(
            T0 + timedelta(seconds=n), "ERROR", CRASH, service, f"{service}-00001", "i", f"{n}"
        )
        for n, service in enumerate(["a", "b", "a", "c"])
    ]
    path = tmp_path / "logs.json"
    path.write_text(json.dumps([gcloud_record(e) for e in reversed(entries)], indent=2))
    assert main(["errors", "--from-file", str(path), "--service", "a", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["entries"] == 2
    assert [(g["services"], g["count"]) for g in out["groups"]] == [(["a"], 2)]
