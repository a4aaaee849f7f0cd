"""`make bench`: every benchmark, one section per issue that names a speed or memory goal.

Each benchmark runs in a process of its own, so that none inherits another's heap,
threads or warmed caches (inside one process the keypress figure read 119 ms p95 with a
297 MiB process where it reads 71 ms alone). A benchmark that fails is said, and the
others still run; the exit status is 1 when any failed.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench_grid",
    "bench_layout",
    "bench_validate",
    "bench_corpus",
    "bench_revisions",
    "bench_logs",
    "bench_gcp",
    "bench_cost",
    "bench_log_filter",
    "bench_suppression",
    "bench_errors_file",
    "bench_explain",
    "bench_timeline",
    "bench_pubsub",
    "bench_run_calls",
    "bench_log_analytics",
    "bench_recording",
)


def main() -> int:
    failed = []
    for index, name in enumerate(BENCHMARKS):
        if index:
            print(flush=True)
        code = subprocess.call([sys.executable, "-c", f"from bench import {name}; {name}.main()"])
        if code != 0:
            failed.append(f"{name} (exit {code})")
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
