"""Nothing a test starts outlives it: the emulators are stopped when the process that
started them ends, also on SIGTERM (a CI timeout, `timeout`, a closed terminal) and on
Ctrl-C, which Python's defaults would not stop (they are in their own process groups,
and were left running, reparented to init)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CHILD = """
import sys, threading
sys.path.insert(0, sys.argv[1])
from concurrent.futures import ThreadPoolExecutor
from loopback.emulators import start_bigquery, start_firestore, start_pubsub

with ThreadPoolExecutor(3) as pool:  # as the loopback fixture starts them
    futures = [pool.submit(s) for s in (start_firestore, start_bigquery, start_pubsub)]
    started = [f.result() for f in futures]
print(" ".join(str(e.process.pid) for e in started), flush=True)
threading.Event().wait()
"""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_emulators_stop_when_the_process_that_started_them_is_signalled(
    signum: signal.Signals,
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(TESTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    groups: list[int] = []
    try:
        assert child.stdout is not None
        line = child.stdout.readline()  # the emulators answer: all are up
        assert line.strip(), child.stderr.read() if child.stderr else ""
        groups = [int(pid) for pid in line.split()]  # each leads its own process group
        assert all(_group_alive(g) for g in groups)
        child.send_signal(signum)
        child.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(_group_alive(g) for g in groups) and time.monotonic() < deadline:
            time.sleep(0.1)  # the last members of a group go just after its leader
        assert not any(_group_alive(g) for g in groups), "an emulator outlived its starter"
    finally:
        child.kill()
        child.wait()
        for group in groups:
            if _group_alive(group):
                os.killpg(group, signal.SIGKILL)
