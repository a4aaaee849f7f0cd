"""Read what `gcloud logging read --format=json` prints (a JSON array of LogEntry
objects), or JSON lines of the same objects, into `LogEntry`s.

Malformed input never stops the read: bad lines are counted and skipped, and
invalid UTF-8 becomes U+FFFD.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from orchwatch.model import LogEntry
from orchwatch.sanitize import decode


class _Resource(msgspec.Struct):
    type: str = ""
    labels: dict[str, str] = {}


class _Entry(msgspec.Struct, rename="camel"):
    timestamp: str = ""
    severity: str = "DEFAULT"
    text_payload: str | None = None
    json_payload: dict[str, Any] | None = None
    resource: _Resource = msgspec.field(default_factory=_Resource)
    labels: dict[str, str] = {}
    insert_id: str = ""


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds ("2026-02-01T11:30:01.123456789Z") as aware UTC."""
    value = _FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00")
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _text(entry: _Entry) -> str:
    if entry.text_payload is not None:
        return entry.text_payload
    return payload_text(entry.json_payload or {})


def payload_text(payload: dict[str, Any]) -> str:
    """A jsonPayload's text: its message, with the stack trace when it has one."""
    message = payload.get("message") or payload.get("textPayload") or ""
    trace = payload.get("stack_trace") or payload.get("stackTrace") or ""
    if not isinstance(message, str):
        message = str(message)
    if trace and isinstance(trace, str):
        return f"{message}\n{trace}" if message and trace not in message else trace
    return message


def to_log_entry(raw: _Entry) -> LogEntry:
    """One decoded gcloud entry as orchwatch's LogEntry.

    Raises:
        ValueError: the timestamp is missing or malformed.
    """
    labels = raw.resource.labels
    return LogEntry(
        timestamp=parse_timestamp(raw.timestamp),
        severity=raw.severity or "DEFAULT",
        text=_text(raw),
        service=labels.get("service_name") or labels.get("function_name") or "",
        revision=labels.get("revision_name", ""),
        instance=raw.labels.get("instanceId") or raw.labels.get("instance_id") or "",
        insert_id=raw.insert_id,
    )


@dataclass(frozen=True)
class LogFile:
    """Entries read from a file, and how many records were skipped as malformed."""

    entries: list[LogEntry]
    skipped: int
    bytes_read: int


_ARRAY = msgspec.json.Decoder(list[_Entry])
_ONE = msgspec.json.Decoder(_Entry)


def parse_log_text(text: str) -> LogFile:
    """Parse a JSON array or JSON lines of LogEntry objects."""
    size = len(text.encode("utf-8", errors="replace"))
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            raws = _ARRAY.decode(stripped)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raws = None
        if raws is not None:
            entries, skipped = _convert(raws)
            return LogFile(entries, skipped, size)
    raws_lines: list[_Entry] = []
    skipped = 0
    for line in text.splitlines():
        line = line.strip().rstrip(",")
        if not line or line in ("[", "]"):
            continue
        try:
            if line.startswith("["):  # an array on one line, then other records
                raws_lines.extend(_ARRAY.decode(line))
            else:
                raws_lines.append(_ONE.decode(line))
        except (msgspec.DecodeError, msgspec.ValidationError):
            skipped += 1
    entries, bad = _convert(raws_lines)
    return LogFile(entries, skipped + bad, size)


def _convert(raws: list[_Entry]) -> tuple[list[LogEntry], int]:
    entries = []
    skipped = 0
    for raw in raws:
        try:
            entries.append(to_log_entry(raw))
        except ValueError:
            skipped += 1
    return entries, skipped


def read_log_file(path: str) -> LogFile:
    """Read a file, or standard input for `-`.

    Raises:
        OSError: the file cannot be read.
    """
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    return parse_log_text(decode(data))
