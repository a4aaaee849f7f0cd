"""Issue 16's figures: `orchwatch errors --from-file` on a 1 GB gcloud array (peak memory,
entries/s, beside `grep -c` on the same file), and `orchwatch daily` against a backend that
accepts connections and never answers (how long the verb takes to give up).

The file is written the way `gcloud logging read --format=json` prints: an indented array,
keys sorted, newest entry first, Cloud Run's stderr lines one entry per traceback line.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import report
from orchwatch.sources.demo.logs import CHAINED, CRASH, GROUP, KEY_ERROR
from tests.loopback.seed import write_config
from tests.loopback.silent import silent_port

T_END = datetime(2026, 2, 1, 12, tzinfo=UTC)
SERVICES = [f"phase{n}-processor-{k}" for n in range(2, 6) for k in range(3)]
GIB = 1 << 30
RUNS = 3

_ENTRY = """  {{
    "insertId": "{insert_id}",
    "labels": {{
      "instanceId": "{instance}"
    }},
    "logName": "projects/nba-props-platform/logs/run.googleapis.com%2F{stream}",
    "receiveTimestamp": "{received}",
    "resource": {{
      "labels": {{
        "configuration_name": "{service}",
        "location": "us-west2",
        "project_id": "nba-props-platform",
        "revision_name": "{service}-00007-abc",
        "service_name": "{service}"
      }},
      "type": "cloud_run_revision"
    }},
    "severity": "{severity}",
    "textPayload": {text},
    "timestamp": "{timestamp}"
  }}"""


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _events(rng: random.Random) -> Iterator[tuple[datetime, str, str, list[str]]]:
    """(time, service, severity, lines) going back in time from T_END; a traceback is one
    event of many lines, as Cloud Run writes stderr."""
    at = T_END
    while True:
        at -= timedelta(microseconds=rng.randint(200, 2000))
        service = rng.choice(SERVICES)
        roll = rng.random()
        if roll < 0.03:
            text = rng.choice(
                (
                    CRASH,
                    CHAINED.format(game=rng.randint(10**9, 10**10)),
                    KEY_ERROR.format(date="2026-02-01"),
                )
            )
            yield at, service, "ERROR", text.splitlines()
        elif roll < 0.035:
            yield at, service, "ERROR", [GROUP.format(n=2)]  # a whole group in one entry
        else:
            yield at, service, "INFO", [f"processed batch {rng.randint(1, 999)} for {service}"]


def write_gcloud_array(path: Path, size: int, seed: int = 16) -> int:
    """Write about `size` bytes; return how many entries were written."""
    rng = random.Random(seed)
    count = 0
    with path.open("w") as out:
        out.write("[\n")
        written = 2
        first = True
        for at, service, severity, lines in _events(rng):
            instance = f"00f46b92{rng.randint(0, 3):02d}"
            chunk: list[str] = []
            # Newest first: a traceback's last line comes first.
            for k, line in reversed(list(enumerate(lines))):
                moment = at + timedelta(microseconds=k * 300)
                chunk.append(
                    _ENTRY.format(
                        insert_id=f"{int(moment.timestamp() * 1e6):x}{count % 997:03x}",
                        instance=instance,
                        stream="stderr" if severity == "ERROR" else "stdout",
                        received=_stamp(moment + timedelta(milliseconds=40)),
                        service=service,
                        severity=severity,
                        text=json.dumps(line),
                        timestamp=_stamp(moment),
                    )
                )
                count += 1
            text = ("" if first else ",\n") + ",\n".join(chunk)
            first = False
            out.write(text)
            written += len(text)
            if written >= size:
                break
        out.write("\n]\n")
    return count


def _peak_run(args: list[str], stdin: Path | None = None) -> tuple[float, int, str]:
    """Seconds, peak RSS in bytes and stdout of a child process (reading `stdin`, if given)."""
    script = (
        "import os, resource, subprocess, sys, time\n"
        "source = os.environ.get('BENCH_STDIN')\n"
        "stdin = open(source, 'rb') if source else subprocess.DEVNULL\n"
        "start = time.perf_counter()\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True, stdin=stdin)\n"
        "seconds = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024\n"
        "print(seconds, peak, done.returncode)\n"
        "sys.stdout.write(done.stdout[:4000])\n"
    )
    env = {**os.environ, "BENCH_STDIN": str(stdin) if stdin else ""}
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, env=env
    )
    head, _, rest = done.stdout.partition("\n")
    seconds, peak, code = head.split()
    if code != "0":
        raise SystemExit(f"{' '.join(args)} exited {code}")
    return float(seconds), int(peak), rest


def from_file(size: int = GIB) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "logs.json"
        count = write_gcloud_array(path, size)
        mb = path.stat().st_size / 1e6
        runs = [
            _peak_run([sys.executable, "-m", "orchwatch", "errors", "--from-file", str(path)])
            for _ in range(RUNS)
        ]
        seconds = min(run[0] for run in runs)  # the least noisy estimate on a shared machine
        peak = max(run[1] for run in runs)
        out = runs[0][2]
        grep_start = time.perf_counter()
        subprocess.run(["grep", "-c", "Traceback", str(path)], capture_output=True, check=False)
        grep_seconds = time.perf_counter() - grep_start
    print(f"  a {mb:,.0f} MB gcloud array, newest first, {count:,} entries; best of {RUNS} runs")
    report("errors --from-file: entries/s", count / seconds, "entries/s", 200_000, False)
    report("errors --from-file: peak memory", peak / 2**20, "MiB", 300)
    report("grep -c Traceback on the same file: entries/s", count / grep_seconds, "entries/s")
    ratio = seconds / grep_seconds
    print(
        f"  orchwatch takes {seconds:.1f} s, grep {grep_seconds:.1f} s ({ratio:.1f}x grep's time)"
    )
    print("  " + (out.strip().splitlines() or ["(no output)"])[0])


def one_line_copy(pretty: Path, out: Path) -> None:
    """The same array on one line: each line's indent and newline dropped (a JSON string
    holds no raw newline, so no string changes)."""
    with pretty.open("rb") as source, out.open("wb") as sink:
        for line in source:
            sink.write(line.strip())


def layouts(size: int = 200 * 10**6) -> None:
    """Issue 25: the same entries as gcloud's indented array and as one line, and `size`
    bytes of whitespace on stdin: time and peak memory, each beside the indented array's."""
    errors = [sys.executable, "-m", "orchwatch", "errors", "--from-file"]
    with tempfile.TemporaryDirectory() as folder:
        pretty, one_line, blank = (Path(folder) / n for n in ("a.json", "b.json", "c.json"))
        count = write_gcloud_array(pretty, size)
        one_line_copy(pretty, one_line)
        with blank.open("wb") as out:
            for _ in range(size // (1 << 20)):
                out.write(b" \n\t  " * ((1 << 20) // 5))
        print(
            f"  {count:,} entries: an indented array of {pretty.stat().st_size / 1e6:,.0f} MB, "
            f"the same on one line {one_line.stat().st_size / 1e6:,.0f} MB; whitespace "
            f"{blank.stat().st_size / 1e6:,.0f} MB on stdin"
        )
        base_seconds, base_peak, _ = _peak_run([*errors, str(pretty)])
        report("indented array: seconds", base_seconds, "s")
        report("indented array: peak memory", base_peak / 2**20, "MiB", 300)
        for name, args, stdin in (
            ("one-line array", [*errors, str(one_line)], None),
            ("whitespace on stdin", [*errors, "-"], blank),
        ):
            seconds, peak, out = _peak_run(args, stdin)
            report(f"{name}: seconds", seconds, "s")
            report(f"{name}: time / the indented array's", seconds / base_seconds, "x", 2)
            report(f"{name}: peak memory", peak / 2**20, "MiB", 300)
            print("    " + (out.strip().splitlines() or ["(no output)"])[0])


def unreachable_daily(timeout: int = 5) -> None:
    """`orchwatch daily` with every backend at a port that accepts and never answers."""
    with silent_port() as port:
        seconds, done = _daily_against(f"127.0.0.1:{port}", timeout)
    name = f"daily, every backend silent, --timeout {timeout}: exits after"
    report(name, seconds, "s", timeout + 5)
    said = done.stderr.strip().splitlines() or ["(nothing on stderr)"]
    print(f"  exit {done.returncode}: {said[-1]}")


def _daily_against(where: str, timeout: int) -> tuple[float, subprocess.CompletedProcess[str]]:
    with tempfile.TemporaryDirectory() as folder:
        endpoints = {"firestore": where, "bigquery": f"http://{where}", "run": where}
        config = write_config(Path(folder), {**endpoints, "logging": where}, "orchwatch-silent")
        verb = ["daily", "--date", "2026-01-31", "--timeout", str(timeout)]
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "orchwatch", "--config", str(config), *verb],
            capture_output=True,
            text=True,
            env={**os.environ, "ORCHWATCH_CACHE_DIR": folder},
            check=False,
        )
        return time.perf_counter() - start, done


def main() -> None:
    print("hardening (issue 16)")
    from_file(int(os.environ.get("ORCHWATCH_BENCH_LOG_BYTES", GIB)))
    print("log layouts (issue 25)")
    layouts(int(os.environ.get("ORCHWATCH_BENCH_LAYOUT_BYTES", 200 * 10**6)))
    unreachable_daily()


if __name__ == "__main__":
    main()
