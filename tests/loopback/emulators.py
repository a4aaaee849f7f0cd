"""Start the Firestore and BigQuery emulators as child processes, and stop them.

Both are real servers speaking the real protocols: the Firestore emulator that
ships with the Google Cloud CLI (Java 17), and `bqemulator` from PyPI (REST,
DuckDB-backed). A server that does not come up raises `EmulatorError` with
the reason and the end of its log, so a test fails saying why; nothing is
skipped.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FIRESTORE_EMULATOR = Path(
    os.environ.get(
        "ORCHWATCH_FIRESTORE_EMULATOR",
        "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator",
    )
)
PUBSUB_EMULATOR = Path(
    os.environ.get(
        "ORCHWATCH_PUBSUB_EMULATOR",
        "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator",
    )
)
START_TIMEOUT = 60.0


class EmulatorError(RuntimeError):
    """An emulator could not be started; the message says why."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_RUNNING: list[Emulator] = []
"""Every emulator this process started and has not stopped."""
_HANDLED: list[int] = []


def stop_all() -> None:
    """Stop every emulator still running (at exit, and on SIGTERM or SIGHUP)."""
    for emulator in list(_RUNNING):
        emulator.stop()


def _stop_and_die(signum: int, frame: object) -> None:
    """A termination signal: stop the emulators, then die of the signal as before, so
    the exit status says what happened (a CI timeout, a closed terminal)."""
    stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _handle_termination() -> None:
    """Stop the emulators however this process ends: normally (atexit), by Ctrl-C
    (KeyboardInterrupt unwinds to atexit), or by SIGTERM or SIGHUP (handled here; Python's
    default dies running neither). Installed on import, from the main thread: emulators
    are started from worker threads, where no signal handler can be set."""
    atexit.register(stop_all)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, _stop_and_die)
            _HANDLED.append(signum)


@dataclass(eq=False)
class Emulator:
    """A running emulator process."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    scratch: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`."""
        return f"127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 15) -> str:
        """The end of the emulator's output."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __post_init__(self) -> None:
        _RUNNING.append(self)

    def stop(self) -> None:
        """Stop the emulator and everything it started (its process group)."""
        if self in _RUNNING:
            _RUNNING.remove(self)
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _wait_http(emulator: Emulator, url: str, ok: Callable[[int, str], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    last = ""
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            raise EmulatorError(
                f"the {emulator.name} exited with code {emulator.process.returncode} while "
                f"starting:\n{emulator.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body = response.read().decode(errors="replace")
                if ok(response.status, body):
                    return
                last = f"HTTP {response.status}: {body[:80]}"
        except urllib.error.HTTPError as exc:
            if ok(exc.code, ""):
                return
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    emulator.stop()
    raise EmulatorError(
        f"the {emulator.name} did not answer {url} within {START_TIMEOUT:g} s (last: {last}):\n"
        f"{emulator.log_tail()}"
    )


def _start_java_emulator(
    name: str, executable: Path, component: str, override: str, argv: list[str], port: int
) -> Emulator:
    """One of the Cloud SDK's Java emulators, in a process group of its own, answering
    "Ok" on its root URL once it is up.

    Raises:
        EmulatorError: it is not installed, Java is missing, or it did not come up.
    """
    if not executable.exists():
        raise EmulatorError(
            f"the {name} is not at {executable}: install the Google Cloud CLI's {component} "
            f"component (or set {override})"
        )
    if shutil.which("java") is None:
        raise EmulatorError(f"the {name} needs Java 17 or newer on PATH; none found")
    scratch = Path(tempfile.mkdtemp(prefix=f"orchwatch-{component}-"))
    log = scratch / "emulator.log"
    process = subprocess.Popen(
        [str(executable), *argv],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    emulator = Emulator(name, process, port, log, scratch)
    _wait_http(emulator, f"http://127.0.0.1:{port}/", lambda status, body: body.strip() == "Ok")
    return emulator


def start_firestore(port: int | None = None) -> Emulator:
    """The Firestore emulator of the Google Cloud CLI, on 127.0.0.1.

    Raises:
        EmulatorError: it is not installed, Java is missing, or it did not come up.
    """
    port = port or free_port()
    return _start_java_emulator(
        "Firestore emulator",
        FIRESTORE_EMULATOR,
        "cloud-firestore-emulator",
        "ORCHWATCH_FIRESTORE_EMULATOR",
        ["start", "--host=127.0.0.1", f"--port={port}"],
        port,
    )


def start_pubsub(port: int | None = None) -> Emulator:
    """The Pub/Sub emulator of the Google Cloud CLI (gRPC, Java 17), on 127.0.0.1. It
    delivers push subscriptions for real, over HTTP, with their retry policy, and
    dead-letters what is refused too often.

    Raises:
        EmulatorError: it is not installed, Java is missing, or it did not come up.
    """
    port = port or free_port()
    return _start_java_emulator(
        "Pub/Sub emulator",
        PUBSUB_EMULATOR,
        "pubsub-emulator",
        "ORCHWATCH_PUBSUB_EMULATOR",
        ["--host=127.0.0.1", f"--port={port}"],
        port,
    )


def reset_firestore(emulator: Emulator, project: str) -> None:
    """Delete every document of a project in the emulator."""
    request = urllib.request.Request(
        f"http://{emulator.host}/emulator/v1/projects/{project}/databases/(default)/documents",
        method="DELETE",
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def _spatial_extension() -> Path:
    import duckdb_extension_spatial

    found = sorted(
        Path(duckdb_extension_spatial.__file__).parent.glob("extensions/*/spatial.duckdb_extension")
    )
    if not found:
        raise EmulatorError("duckdb-extension-spatial ships no spatial.duckdb_extension file")
    return found[-1]


def prepare_duckdb_home(home: Path) -> None:
    """Install DuckDB's spatial extension (which bqemulator loads) from the PyPI file, offline."""
    code = (
        "import duckdb, sys; c = duckdb.connect(); "
        "c.execute(f\"INSTALL '{sys.argv[1]}'\"); c.execute('LOAD spatial')"
    )
    env = {**os.environ, "HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-c", code, str(_spatial_extension())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise EmulatorError(
            "could not install DuckDB's spatial extension for the BigQuery emulator:\n"
            + result.stderr[-2000:]
        )


def start_bigquery(port: int | None = None, project: str = "orchwatch-local") -> Emulator:
    """`bqemulator` (REST on 127.0.0.1), in memory.

    Raises:
        EmulatorError: it is not installed or did not come up.
    """
    executable = Path(sys.executable).with_name("bqemulator")
    if not executable.exists():
        raise EmulatorError(
            f"bqemulator is not installed next to {sys.executable}: run `make test` (it "
            "installs the dev extra)"
        )
    port = port or free_port()
    scratch = Path(tempfile.mkdtemp(prefix="orchwatch-bigquery-"))
    prepare_duckdb_home(scratch)
    log = scratch / "emulator.log"
    process = subprocess.Popen(
        [
            str(executable),
            "start",
            "--rest-host=127.0.0.1",
            f"--rest-port={port}",
            "--grpc-port=0",
            f"--project={project}",
            "--log-level=warning",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(scratch)},
        start_new_session=True,
    )
    emulator = Emulator("BigQuery emulator", process, port, log, scratch)
    _wait_http(
        emulator,
        f"http://127.0.0.1:{port}/bigquery/v2/projects/{project}/datasets",
        lambda status, body: status == 200,
    )
    return emulator


_handle_termination()
