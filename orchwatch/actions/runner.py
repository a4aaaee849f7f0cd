"""Run an action's command: its own process group, streamed output, cancel and timeout.

Cancel sends SIGINT to the whole process group, then SIGTERM, then SIGKILL, each
after a grace period, so a deploy script's children (gcloud, rsync) stop with it.
The child writes its output to two files in a folder of its own, which reader threads
follow and queue line by line (the UI drains them once per frame): a run the user leaves
running when orchwatch quits goes on writing there, where a pipe would have broken it.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

OUTPUT_TAIL = 50


@dataclass(frozen=True)
class RunResult:
    """How a run ended."""

    exit_code: int | None
    """None when the process could not start."""
    duration: float
    output_tail: tuple[str, ...]
    cancelled: bool = False
    timed_out: bool = False
    error: str = ""
    """Why the process could not start."""

    @property
    def ok(self) -> bool:
        """Exit code 0, not cancelled, not timed out."""
        return self.exit_code == 0 and not self.cancelled and not self.timed_out


@dataclass
class ActionRun:
    """A running (or finished) command."""

    argv: Sequence[str]
    cwd: Path
    timeout: float
    grace: float = 2.0
    env: dict[str, str] | None = None
    """The child's environment (None: orchwatch's own)."""
    on_start: Callable[[int], None] | None = None
    """Called with the child's process group id once it runs (to record it in the audit)."""
    lines: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    """(stream, line) as they arrive; the UI drains this per frame."""
    _tail: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_TAIL))
    _process: subprocess.Popen[bytes] | None = None
    _started: float = 0.0
    _cancel: threading.Event = field(default_factory=threading.Event)
    _ended: threading.Event = field(default_factory=threading.Event)
    _cancelled: bool = False
    _timed_out: bool = False

    @property
    def pid(self) -> int | None:
        """The child's pid (also its process group id)."""
        return self._process.pid if self._process else None

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self._started if self._started else 0.0

    output_dir: Path | None = None
    """The folder the child writes its output to, once it started (kept while it runs)."""

    def cancel(self) -> None:
        """Ask the run to stop (SIGINT, SIGTERM, SIGKILL to its group, with grace periods)."""
        self._cancel.set()

    def run(self) -> RunResult:
        """Run to completion (blocking: call from a worker thread)."""
        self._started = time.monotonic()
        folder = Path(tempfile.mkdtemp(prefix="orchwatch-run-"))
        files = {name: folder / f"{name}.log" for name in ("stdout", "stderr")}
        try:
            with files["stdout"].open("wb") as out, files["stderr"].open("wb") as err:
                self._process = subprocess.Popen(
                    list(self.argv),
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,  # its own process group, for cancel
                )
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return RunResult(
                None, 0.0, (), error=f"cannot start {self.argv[0]}: {exc.strerror or exc}"
            )
        self.output_dir = folder
        if self.on_start is not None:
            self.on_start(self._process.pid)
        readers = [
            threading.Thread(target=self._follow, args=(path, name), daemon=True)
            for name, path in files.items()
        ]
        for reader in readers:
            reader.start()
        deadline = self._started + self.timeout
        while self._process.poll() is None:
            if self._cancel.wait(0.05):
                self._cancelled = True
                self._stop()
                break
            if time.monotonic() >= deadline:
                self._timed_out = True
                self._stop()
                break
        code = self._process.wait()
        self._ended.set()
        for reader in readers:
            reader.join(timeout=self.grace)
        shutil.rmtree(folder, ignore_errors=True)
        return RunResult(code, self.elapsed, tuple(self._tail), self._cancelled, self._timed_out)

    def _follow(self, path: Path, name: str) -> None:
        """Queue the lines of an output file as the child writes them, until it has ended
        and all it wrote is read."""
        pending = b""
        with path.open("rb") as handle:
            while True:
                ended = self._ended.is_set()  # before the read: then the read sees it all
                data = handle.read(65536)
                if data:
                    *lines, pending = (pending + data).split(b"\n")
                    for raw in lines:
                        self._line(name, raw)
                    continue
                if ended:
                    break
                time.sleep(0.02)
        if pending:
            self._line(name, pending)

    def _line(self, name: str, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace")
        self._tail.append(line)
        self.lines.put((name, line))

    def _stop(self) -> None:
        """SIGINT, then SIGTERM, then SIGKILL to the process group, each given `grace`
        seconds for the whole group (not only the child) to go."""
        assert self._process is not None
        pgid = self._process.pid
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            end = time.monotonic() + self.grace
            while time.monotonic() < end:
                if self._process.poll() is not None and _group_gone(pgid):
                    return
                time.sleep(0.05)


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class ActionGuard:
    """Never two runs of the same action for the same service at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[tuple[str, str]] = set()

    def acquire(self, action: str, service: str) -> bool:
        """Claim (action, service); False when a run of it is in progress."""
        with self._lock:
            if (action, service) in self._running:
                return False
            self._running.add((action, service))
            return True

    def release(self, action: str, service: str) -> None:
        """Give (action, service) back."""
        with self._lock:
            self._running.discard((action, service))
