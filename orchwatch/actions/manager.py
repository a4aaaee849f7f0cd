"""Runs of actions in progress: any number at once, at most one per (kind, subject), each
recorded in the audit log from its start to its end.

The manager owns what a run is: the guard, the audit records (started, process group,
finished, left running), the process group (`ActionRun`), cancelling, and which runs are
going. Each run has a thread of its own; the manager reports a run's end through a
callback called from that thread (a UI turns it into a message of its own, a headless
caller waits on the handle). Nothing here knows about screens.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from orchwatch.actions.audit import AuditLog
from orchwatch.actions.runner import ActionGuard, ActionRun, RunResult

OUTPUT_BATCH = 2000
"""At most this many output lines are handed over per drain (the rest wait a tick)."""


@dataclass(frozen=True, order=True)
class RunKey:
    """What a run is of: the guard lets one run per key go at a time."""

    kind: str
    """validate, deploy, rollback..."""
    subject: str
    """The service (or the repository a validation reads)."""

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}"


@dataclass(eq=False)
class RunHandle:
    """One run, going or ended."""

    key: RunKey
    argv: tuple[str, ...]
    run_id: str
    process: ActionRun | None
    """The child process; None for work done inside orchwatch (the package validator)."""
    started: float = field(default_factory=time.monotonic)
    result: RunResult | None = None
    """Set when the run has ended."""
    stop: threading.Event | None = None
    """For work inside orchwatch that can stop (a replay's watch): set to ask it to."""
    _done: threading.Event = field(default_factory=threading.Event)

    @property
    def elapsed(self) -> float:
        """Seconds since the start (until the end, once ended)."""
        if self.result is not None:
            return self.result.duration
        return time.monotonic() - self.started

    @property
    def cancellable(self) -> bool:
        """Whether `cancel` can stop it: a child process, or work that watches `stop`."""
        return self.process is not None or self.stop is not None

    @property
    def command(self) -> str:
        """The command as a shell would show it."""
        return shlex.join(self.argv)

    def wait(self, timeout: float | None = None) -> RunResult | None:
        """Block until the run has ended (or `timeout` passed); its result, if ended."""
        self._done.wait(timeout)
        return self.result

    def drain(self, limit: int = OUTPUT_BATCH) -> list[tuple[str, str]]:
        """(stream, line) pairs written since the last drain, oldest first."""
        if self.process is None:
            return []
        lines: list[tuple[str, str]] = []
        while len(lines) < limit and not self.process.lines.empty():
            lines.append(self.process.lines.get_nowait())
        return lines


class RunManager:
    """Starts, tracks, cancels and audits the runs of one orchwatch process."""

    def __init__(
        self,
        audit: AuditLog,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        on_end: Callable[[RunHandle], None] | None = None,
    ) -> None:
        """Args:
        audit: where every run is recorded.
        timeout: seconds a command may run before it is stopped.
        env: the commands' environment (None: orchwatch's own).
        on_end: called, from the run's thread, once a run has ended and is recorded.
        """
        self.audit = audit
        self.timeout = timeout
        self.env = dict(env) if env is not None else None
        self.on_end = on_end
        self._guard = ActionGuard()
        self._lock = threading.Lock()
        self._runs: dict[RunKey, RunHandle] = {}

    # --- what is going ---------------------------------------------------------------------

    def running(self) -> list[RunHandle]:
        """The runs in progress, oldest first."""
        with self._lock:
            return sorted(self._runs.values(), key=lambda h: h.started)

    def get(self, key: RunKey) -> RunHandle | None:
        """The run in progress for `key`, if any."""
        with self._lock:
            return self._runs.get(key)

    # --- starting --------------------------------------------------------------------------

    def start(
        self,
        key: RunKey,
        argv: Sequence[str],
        cwd: Path,
        *,
        service: str = "",
        verdict: str = "",
    ) -> RunHandle | None:
        """Start `argv` in its own process group and thread; None when a run of `key` is
        already going (nothing is started or recorded then)."""
        handle = self._claim(key, argv, cwd, service, verdict, external=True)
        if handle is None:
            return None
        threading.Thread(
            target=self._run, args=(handle,), name=f"orchwatch-run {key}", daemon=True
        ).start()
        return handle

    def run(self, key: RunKey, argv: Sequence[str], cwd: Path) -> RunResult:
        """Run `argv` to its end (blocking), audited like any other run."""
        handle = self.start(key, argv, cwd)
        if handle is None:
            return RunResult(None, 0.0, (), error=f"a {key} is already running")
        result = handle.wait()
        assert result is not None
        return result

    def call(
        self,
        key: RunKey,
        argv: Sequence[str],
        cwd: Path,
        job: Callable[[], tuple[RunResult, object]],
        *,
        stop: threading.Event | None = None,
    ) -> tuple[RunResult, object] | None:
        """Do `job` in this thread (work orchwatch does itself, such as the validator),
        guarded and audited as a run: `argv` is what the audit records, the job returns
        its result (its duration is the manager's to measure) and a value for the caller.
        None when a run of `key` is going. An exception from the job is recorded as the
        run's error and raised again. With `stop`, `cancel` sets it (the job watches it and
        ends early)."""
        handle = self._claim(key, argv, cwd, "", "", external=False)
        if handle is None:
            return None
        handle.stop = stop
        result = RunResult(None, 0.0, (), error="did not end")
        try:
            result, value = job()
            result = replace(result, duration=handle.elapsed)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            result = RunResult(2, handle.elapsed, (reason,), error=reason)
            raise
        finally:
            self._end(handle, result)
        return result, value

    def _claim(
        self,
        key: RunKey,
        argv: Sequence[str],
        cwd: Path,
        service: str,
        verdict: str,
        *,
        external: bool,
    ) -> RunHandle | None:
        if not self._guard.acquire(key.kind, key.subject):
            return None
        try:
            run_id = self.audit.started(key.kind, list(argv), cwd, service, verdict)
        except BaseException:
            self._guard.release(key.kind, key.subject)
            raise
        process = (
            ActionRun(
                list(argv),
                cwd,
                timeout=self.timeout,
                env=self.env,
                on_start=lambda pgid: self.audit.process(run_id, pgid),
            )
            if external
            else None
        )
        handle = RunHandle(key, tuple(argv), run_id, process)
        with self._lock:
            self._runs[key] = handle
        return handle

    def _run(self, handle: RunHandle) -> None:
        assert handle.process is not None
        try:
            result = handle.process.run()
        except Exception as exc:  # the run's own failure, never the thread's death
            result = RunResult(None, handle.elapsed, (), error=f"{type(exc).__name__}: {exc}")
        self._end(handle, result)

    def _end(self, handle: RunHandle, result: RunResult) -> None:
        try:
            self.audit.finished(handle.run_id, result)
        except OSError:
            pass  # the audit file became unwritable: the run still ends, and is said to
        finally:
            handle.result = result
            with self._lock:
                self._runs.pop(handle.key, None)
            self._guard.release(handle.key.kind, handle.key.subject)
            handle._done.set()
        if self.on_end is not None:
            self.on_end(handle)

    # --- stopping --------------------------------------------------------------------------

    def cancel(self, key: RunKey) -> bool:
        """Ask the run of `key` to stop (SIGINT, SIGTERM, SIGKILL to its process group);
        work inside orchwatch is asked through its `stop` event. False when no such run is
        going or it cannot be cancelled."""
        handle = self.get(key)
        if handle is None or not handle.cancellable:
            return False
        if handle.stop is not None:
            handle.stop.set()
        if handle.process is not None:
            handle.process.cancel()
        return True

    def cancel_all(self) -> list[RunHandle]:
        """Cancel every run that can be; returns them."""
        cancelled = [h for h in self.running() if self.cancel(h.key)]
        return cancelled

    def leave_all(self) -> list[RunHandle]:
        """Record that orchwatch quits and leaves every run going (and where each goes on
        writing its output); returns them."""
        left = self.running()
        for handle in left:
            output = handle.process.output_dir if handle.process is not None else None
            self.audit.left_running(handle.run_id, output)
        return left
