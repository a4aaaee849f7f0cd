"""The recording (issue: the incident bridge): its size after 14 days of the demo pipeline
recorded at the default schedule, and the time to rewind to any moment of them.

The demo is recorded from its first date on a fast-forwarded clock, one poll every
`[record] interval_seconds` of scenario time (10 s by default: 120,960 polls), exactly as
`orchwatch record --demo` would over 14 days. Then 50 moments spread over the 14 days are
rewound to: the moment found and its stores loaded, the completions of its dates read (the
grid's first answer: the seek), and its log read (the tail's first answer).

`ORCHWATCH_BENCH_RECORD_DAYS` shortens the span (the figures are then not the goal's).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import report

DAYS = float(os.environ.get("ORCHWATCH_BENCH_RECORD_DAYS", "14"))


def main() -> None:
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.recorder import Recorder
    from orchwatch.sources.demo import FIRST_DATE
    from orchwatch.sources.factory import SourceOptions, build_sources
    from orchwatch.sources.history import Recording
    from orchwatch.sources.recorded import rewind

    config = load_config(None)
    settings = config.record
    start = datetime.combine(FIRST_DATE, datetime.min.time(), UTC) + timedelta(minutes=1)
    end = start + timedelta(days=DAYS)
    print(
        f"recording: {DAYS:g} days of the demo, a poll every "
        f"{settings.interval.total_seconds():g} s of scenario time"
    )
    with tempfile.TemporaryDirectory(prefix="orchwatch-bench-recording-") as folder:
        out = Path(folder) / "bridge.db"
        clock = FrozenClock(start)
        sources = build_sources(SourceOptions(demo=True), config, clock=clock)
        recording = Recording(out, write=True)
        polls = 0
        began = time.perf_counter()
        try:
            recorder = Recorder(config, sources, recording, settings)
            while clock.now() < end:
                clock.advance(settings.interval)
                recorder.poll()
                polls += 1
            data = recording.data_bytes()
        finally:
            recording.close()
            sources.close()
        took = time.perf_counter() - began
        size = sum(p.stat().st_size for p in Path(folder).glob("bridge.db*"))
        report(f"polls recorded ({took:.0f} s, {took / polls * 1000:.1f} ms a poll)", polls, "")
        goal = 50.0 if DAYS >= 14 else None
        report(f"recording's size after {DAYS:g} days (data in use)", data / 1e6, "MB", goal)
        report("recording's file on disk (with its WAL)", size / 1e6, "MB")

        rng = random.Random(14)
        moments = sorted(start + (end - start) * rng.random() for _ in range(50))
        seeks, logs = [], []
        for at in moments:
            began = time.perf_counter()
            rewound = rewind(out, at)
            try:
                rewound.completions.fetch_completions(list(rewound.rewound.moment.dates))  # type: ignore[attr-defined]
                seeks.append(time.perf_counter() - began)
                assert rewound.logs is not None
                began = time.perf_counter()
                rewound.logs.read_log(None, config.log_capacity)
                logs.append(time.perf_counter() - began)
            finally:
                rewound.close()
        seek_p95 = statistics.quantiles(seeks, n=20)[-1] * 1000
        report("--as-of seek: moment found, stores loaded, grid read (p95)", seek_p95, "ms", 200)
        report("  max of 50", max(seeks) * 1000, "ms")
        report(
            "the moment's log tail read after (p95)",
            statistics.quantiles(logs, n=20)[-1] * 1000,
            "ms",
        )

    serve_viewers(config)


VIEWERS = 5


def serve_viewers(config: object) -> None:
    """`orchwatch serve` with five browser sessions (websockets, as the page opens them):
    each session's process, its memory, and whether it loaded a Google Cloud client."""
    import asyncio
    import json
    import signal
    import subprocess
    import sys

    import aiohttp

    from orchwatch.sources.demo import DEMO_START
    from tests.loopback.emulators import free_port
    from tests.test_recording import record_demo

    with tempfile.TemporaryDirectory(prefix="orchwatch-bench-serve-") as folder:
        out, log = Path(folder) / "bridge.db", Path(folder) / "viewers.jsonl"
        record_demo(config, out, [DEMO_START + timedelta(minutes=2 * n) for n in range(1, 4)])  # type: ignore[arg-type]
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchwatch",
                "serve",
                "--source",
                str(out),
                "--port",
                str(port),
                "--viewer-log",
                str(log),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            assert server.stdout is not None
            server.stdout.readline()  # "orchwatch: serving ..."

            def framed() -> list[dict[str, object]]:
                lines = log.read_text().splitlines() if log.exists() else []
                return [e for e in map(json.loads, lines) if e["event"] == "first-frame"]

            async def sessions() -> list[int]:
                url = f"ws://127.0.0.1:{port}/ws?width=160&height=45"
                async with aiohttp.ClientSession() as client:
                    sockets = [await client.ws_connect(url) for _ in range(VIEWERS)]
                    deadline = time.monotonic() + 120
                    while len(framed()) < VIEWERS and time.monotonic() < deadline:
                        await asyncio.sleep(0.2)
                    pids = sorted({int(e["pid"]) for e in framed()})  # type: ignore[call-overload]
                    report_memory(pids)
                    for socket in sockets:
                        await socket.close()
                    return pids

            def report_memory(pids: list[int]) -> None:
                rss = [_rss(pid) for pid in pids]
                google = [pid for pid in pids if _loaded_google(pid)]
                report(
                    "serve: browser sessions up (each a viewer process)",
                    len(pids),
                    "",
                    VIEWERS,
                    False,
                )
                report("serve: memory per viewer (RSS, mean)", statistics.mean(rss), "MiB")
                report("serve: the server itself (RSS)", _rss(server.pid), "MiB")
                report(
                    "serve: viewers that loaded a Google Cloud client (their calls: none)",
                    len(google),
                    "",
                    0,
                )

            asyncio.run(sessions())
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)


def _rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _loaded_google(pid: int) -> bool:
    """Whether a process mapped grpc's or a Google client's native code (every Google Cloud
    source loads grpc)."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "grpc" in maps or "google" in maps


if __name__ == "__main__":
    main()
