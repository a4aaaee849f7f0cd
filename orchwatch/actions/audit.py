"""The audit log: append-only JSON lines, flushed and fsynced per record.

A run writes a `started` record before the command starts and a `finished` record
after it ends, so a crash of orchwatch mid-run still leaves a complete record of
what was started. Each record is one `write` on a file opened with O_APPEND under
an exclusive `flock`, so concurrent runs (and processes) never interleave lines.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from orchwatch.actions.runner import RunResult
from orchwatch.sanitize import inert_line


def default_audit_path() -> Path:
    """`<user data dir>/audit.jsonl` (`$ORCHWATCH_AUDIT_LOG` overrides it)."""
    override = os.environ.get("ORCHWATCH_AUDIT_LOG")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir("orchwatch")) / "audit.jsonl"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


class AuditLog:
    """Appends records to one JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def process(self, run_id: str, pgid: int) -> None:
        """Record the process group a run started, so that a run orchwatch could not see
        to its end can still be found (alive or gone) afterwards."""
        self._append(
            {"event": "process", "id": run_id, "time": datetime.now(UTC).isoformat(), "pgid": pgid}
        )

    def left_running(self, run_id: str, output: Path | None = None) -> None:
        """Record that orchwatch quit and left a run going, by the user's choice, and the
        folder its output goes on being written to."""
        record = {"event": "left", "id": run_id, "time": datetime.now(UTC).isoformat()}
        if output is not None:
            record["output"] = str(output)
        self._append(record)

    def _append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def started(
        self,
        action: str,
        argv: Sequence[str],
        cwd: Path,
        service: str = "",
        validator_verdict: str = "",
    ) -> str:
        """Record that a run starts; returns its id (pass it to `finished`)."""
        run_id = uuid.uuid4().hex
        self._append(
            {
                "event": "started",
                "id": run_id,
                "time": datetime.now(UTC).isoformat(),
                "user": _user(),
                "host": socket.gethostname(),
                "action": action,
                "service": service,
                "command": list(argv),
                "cwd": str(cwd),
                "validator_verdict": validator_verdict,
            }
        )
        return run_id

    def finished(self, run_id: str, result: RunResult) -> None:
        """Record how a run ended."""
        self._append(
            {
                "event": "finished",
                "id": run_id,
                "time": datetime.now(UTC).isoformat(),
                "exit_code": result.exit_code,
                "duration_s": round(result.duration, 3),
                "cancelled": result.cancelled,
                "timed_out": result.timed_out,
                "error": result.error,
                "output_tail": list(result.output_tail),
            }
        )


@dataclass(frozen=True)
class AuditEntry:
    """A run as the log tells it: its start, and its end when there is one."""

    started: dict[str, Any]
    finished: dict[str, Any] | None
    pgid: int | None = None
    """The run's process group, when it was recorded."""
    left_running: bool = False
    """orchwatch quit and left it running, as the user chose."""
    output: str | None = None
    """Where a run left running goes on writing its output."""

    @property
    def outcome(self) -> str:
        """`exit 0`, `exit 1`, `cancelled`, `timed out`, `could not start`, or `incomplete`
        (with whether its process group still runs, when it was recorded)."""
        if self.finished is None:
            if self.pgid is None:
                return "incomplete (orchwatch stopped during the run)"
            left = "left running by choice; " if self.left_running else ""
            if group_alive(self.pgid):
                where = f" (output in {self.output})" if self.output else ""
                return f"incomplete: {left}its process group {self.pgid} is still running{where}"
            if left:
                return f"incomplete: {left}its process group {self.pgid} has ended"
            return f"incomplete: its process group {self.pgid} is gone; how it ended is unknown"
        if self.finished.get("timed_out"):
            return "timed out"
        if self.finished.get("cancelled"):
            return "cancelled"
        if self.finished.get("exit_code") is None:
            return "could not start"
        return f"exit {self.finished['exit_code']}"


def read_audit(path: Path) -> tuple[list[AuditEntry], int]:
    """Runs, oldest first, and how many lines could not be read."""
    if not path.exists():
        return [], 0
    starts: dict[str, dict[str, Any]] = {}
    ends: dict[str, dict[str, Any]] = {}
    groups: dict[str, int] = {}
    left: dict[str, str | None] = {}
    bad = 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            bad += 1
            continue
        if not _well_formed(record):
            bad += 1
            continue
        if record["event"] == "process":
            groups[record["id"]] = int(record["pgid"])
        elif record["event"] == "left":
            left[record["id"]] = record.get("output")
        else:
            (starts if record["event"] == "started" else ends)[record["id"]] = record
    return [
        AuditEntry(start, ends.get(run_id), groups.get(run_id), run_id in left, left.get(run_id))
        for run_id, start in starts.items()
    ], bad


_FIELD_TYPES: dict[str, dict[str, tuple[type, ...]]] = {
    "started": {
        "time": (str,),
        "command": (list,),
        "user": (str,),
        "host": (str,),
        "action": (str,),
        "service": (str,),
    },
    "process": {"time": (str,), "pgid": (int,)},
    "left": {"time": (str,), "output": (str,)},
    "finished": {
        "time": (str,),
        "exit_code": (int, type(None)),
        "duration_s": (int, float),
        "cancelled": (bool,),
        "timed_out": (bool,),
        "error": (str,),
        "output_tail": (list,),
    },
}


def group_alive(pgid: int) -> bool:
    """Whether a process group still has a process in it."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _well_formed(record: object) -> bool:
    """Whether a line is a record this module wrote: the right event, id and field types
    (a hand-edited or foreign line is counted as unreadable, never a crash)."""
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return False
    types = _FIELD_TYPES.get(str(record.get("event")))
    if types is None:
        return False
    if record.get("event") == "process" and not valid_pgid(record.get("pgid")):
        return False
    return all(
        isinstance(record[key], kinds) and not (bool not in kinds and isinstance(record[key], bool))
        for key, kinds in types.items()
        if key in record
    )


PGID_RANGE = (2, 2**22)
"""Process group ids a run of ours can have: a new session's leader is neither init (1) nor
0 (which `killpg` reads as "our own group"), and Linux's pid_max is at most 2**22."""


def valid_pgid(value: object) -> bool:
    """Whether `value` can be the process group a run was started in."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and PGID_RANGE[0] <= value <= PGID_RANGE[1]
    )


def recorded_at(recorded: object) -> datetime | None:
    """A record's time, aware (a time without a zone is UTC, as orchwatch writes them);
    None when it does not parse."""
    try:
        moment = datetime.fromisoformat(str(recorded).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def shown_time(recorded: object, zone: ZoneInfo) -> str:
    """A record's UTC time in the zone times are shown in; a time that does not parse is
    shown as it is (a record is never dropped)."""
    moment = recorded_at(recorded)
    if moment is None:
        return inert_line(str(recorded), 19)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def audit_markdown(entries: Sequence[AuditEntry], zone: ZoneInfo) -> str:
    """A table for an incident document, times in `zone` (named in the header)."""
    lines = [
        f"| time ({zone.key}) | user@host | action | service | command | outcome | duration |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in entries:
        s, f = entry.started, entry.finished or {}
        command = " ".join(str(a) for a in s.get("command", [])).replace("|", "\\|")
        duration = f"{f['duration_s']:.1f} s" if "duration_s" in f else ""
        lines.append(
            f"| {shown_time(s.get('time', ''), zone)} | {s.get('user', '')}@{s.get('host', '')} | "
            f"{s.get('action', '')} | {s.get('service', '')} | `{command}` | {entry.outcome} | "
            f"{duration} |"
        )
    return "\n".join(lines)
