"""Run a command with every core kept busy: the check that the suite does not depend on
timing (`make test-stress`). A flaky test is a bug in the test or the product; this is
how it shows before CI's loaded machine shows it.

    python tests/busy.py -- make test
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys


def _spin() -> None:
    while True:
        pass


def main(argv: list[str]) -> int:
    command = argv[argv.index("--") + 1 :] if "--" in argv else argv
    if not command:
        print("usage: busy.py -- COMMAND...", file=sys.stderr)
        return 2
    spinners = [
        multiprocessing.Process(target=_spin, daemon=True) for _ in range(os.cpu_count() or 2)
    ]
    for spinner in spinners:
        spinner.start()
    try:
        return subprocess.call(command)
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.join()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
