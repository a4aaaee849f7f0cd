"""What a daemon meets: `orchwatch record` stopped by SIGTERM finishes the poll in progress;
killed with SIGKILL it leaves a recording that opens with every complete poll; a full disk
stops it with exit 74 and a message, the polls before intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from orchwatch.sources.history import Recording, RecordingError

ORCHWATCH = [sys.executable, "-m", "orchwatch"]


def start(
    tmp_path: Path, out: Path, *args: str, limit: int | None = None, **kwargs: object
) -> subprocess.Popen[str]:
    env = {**os.environ, "ORCHWATCH_CACHE_DIR": str(tmp_path / "cache")}
    env["ORCHWATCH_AUDIT_LOG"] = str(tmp_path / "audit.jsonl")
    limited = [sys.executable, "-c", LIMITED, str(limit)] if limit is not None else []
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [*limited, *ORCHWATCH, "record", "--demo", "-o", str(out), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def moments(out: Path) -> int:
    try:
        recording = Recording(out)
    except RecordingError:
        return 0
    try:
        return len(recording.moments())
    except RecordingError:
        return 0
    finally:
        recording.close()


def wait_for(process: subprocess.Popen[str], done: Callable[[], bool], what: str) -> None:
    """Until `done` (the recorder's own output says so), failing if the recorder ends first
    or a minute passes."""
    deadline = time.monotonic() + 60
    while not done():
        if process.poll() is not None:
            pytest.fail(f"the recorder ended before {what}: {process.stderr.read()}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within a minute")
        time.sleep(0.05)


def test_sigterm_ends_it_after_the_poll_in_progress(tmp_path: Path) -> None:
    out = tmp_path / "h.db"
    process = start(tmp_path, out, "--every", "0.2")
    try:
        wait_for(process, lambda: moments(out) >= 3, "three polls")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "stopped after" in err and "Traceback" not in err
    held = moments(out)
    assert held >= 3
    # The last poll is whole: it rewinds, and its walkthrough judges it.
    done = subprocess.run(
        [*ORCHWATCH, "daily", "--source", str(out), "--date", "2026-01-31"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # the demo's incident date fails
    assert "phase3 completion" in done.stdout
    # Stopped, the recording is one file, and reading it makes none appear beside it.
    assert sorted(p.name for p in tmp_path.glob("h.db*")) == ["h.db"]


def test_sigkill_mid_write_leaves_a_recording_that_opens_and_is_added_to(tmp_path: Path) -> None:
    out = tmp_path / "h.db"
    process = start(tmp_path, out, "--every", "0.05")
    try:
        wait_for(process, lambda: moments(out) >= 5, "five polls")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    before = moments(out)
    assert before >= 5
    recording = Recording(out, write=True)  # checked whole on open for writing
    recording.close()
    again = start(tmp_path, out, "--every", "0.05", "--polls", "2")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert moments(out) == before + 2


LIMITED = (
    "import os, resource, signal, sys\n"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)\n"
    "limit = int(sys.argv[1])\n"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)
"""Runs a command with files limited to a size, set in a process of its own that then
becomes the command. Not `preexec_fn`: that forks the test's process, where the gRPC
clients of other tests may run threads, and gRPC's fork handler can abort the child."""


def test_a_file_that_cannot_grow_stops_it_with_exit_74_and_the_polls_before_intact(
    tmp_path: Path,
) -> None:
    """A size-limited target (RLIMIT_FSIZE: a write past it fails as on a full disk)."""
    out = tmp_path / "h.db"
    first = start(tmp_path, out, "--every", "0.05", "--polls", "2")
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    size = sum(p.stat().st_size for p in tmp_path.glob("h.db*"))
    # Room for a little more than there is: the next polls' logs do not fit.
    process = start(tmp_path, out, "--every", "0.05", limit=size + 64 * 1024)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 74, err
    assert f"{out}: cannot be written (disk I/O error)" in err, err
    assert "stopped after" in err and "Traceback" not in err
    assert moments(out) >= 2
    assert subprocess.run(
        [*ORCHWATCH, "revisions", "--source", str(out)], capture_output=True, timeout=120
    ).returncode in (0, 1)
