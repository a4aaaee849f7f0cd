"""Read what `gcloud logging read --format=json` prints (a JSON array of LogEntry
objects), or JSON lines of the same objects, into `LogEntry`s.

Records are read as a stream and judged one by one: a record with a bad field is
skipped and counted by reason, the rest are read; nothing in a record (its size, its
nesting, its dates, invalid UTF-8) can stop the read.
"""

from __future__ import annotations

import io
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import msgspec

from orchwatch.model import LogEntry


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


MAX_RECORD_BYTES = 4 * 1024 * 1024
"""A record larger than this is skipped and counted (Cloud Logging caps an entry at 256 KiB)."""
MAX_TEXT = 64 * 1024
"""An entry's text is kept up to this many characters, then cut with a count."""
_BLOCK = 1 << 20
_EARLIEST, _LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
_PRETTY_END = re.compile(rb"\n  \}[ \t]*(?:,|\n\]|\]|$)")
"""Where a top-level element of gcloud's indented JSON array ends: a `}` at two spaces of
indentation. Inside a string a newline is escaped, so this cannot match within one."""


@dataclass(frozen=True)
class LogFile:
    """Entries read from a file, and the records skipped, by reason."""

    entries: list[LogEntry]
    skipped_by_reason: dict[str, int]
    bytes_read: int

    @property
    def skipped(self) -> int:
        """How many records were skipped."""
        return sum(self.skipped_by_reason.values())


_ONE = msgspec.json.Decoder(_Entry)
_RAWS = msgspec.json.Decoder(list[msgspec.Raw])


def _decode(data: bytes | memoryview) -> _Entry:
    try:
        return _ONE.decode(data)
    except msgspec.DecodeError as exc:
        if "UTF-8" not in str(exc):
            raise
        # Invalid UTF-8 becomes U+FFFD, as everywhere orchwatch shows text.
        return _ONE.decode(bytes(data).decode("utf-8", errors="replace").encode())


def judge_record(data: bytes | memoryview) -> LogEntry | str:
    """One record as an entry, or why it is skipped: every record is judged on its own, so
    one bad field costs that record only."""
    if len(data) > MAX_RECORD_BYTES:
        return f"larger than {MAX_RECORD_BYTES // (1024 * 1024)} MiB"
    try:
        raw = _decode(data)
    except msgspec.ValidationError as exc:
        return f"a field of the wrong type ({str(exc)[:80]})"
    except msgspec.DecodeError:
        return "not a JSON object"
    except RecursionError:
        return "nested too deeply"
    try:
        entry = to_log_entry(raw)
    except (ValueError, OverflowError):
        return "no valid timestamp"
    if not _EARLIEST <= entry.timestamp < _LATEST:
        return "a timestamp out of range"
    if len(entry.text) > MAX_TEXT:
        cut = len(entry.text) - MAX_TEXT
        entry = replace(entry, text=f"{entry.text[:MAX_TEXT]}… (+{cut} characters)")
    return entry


def iter_records(read: Callable[[int], bytes]) -> Iterator[bytes | memoryview]:
    """The records of a gcloud JSON array or of JSON lines, read block by block, so memory
    holds a record or a block at a time. An array that is not indented as gcloud prints it
    is read whole and split by the JSON decoder."""
    buffer = bytearray()
    while not buffer.strip():
        block = read(_BLOCK)
        if not block:
            return
        buffer += block
    stripped = bytes(buffer.lstrip())
    if stripped.startswith(b"[") and not re.match(rb"\[\s*\n  \{", stripped[:64]):
        rest = [stripped]
        while block := read(_BLOCK):
            rest.append(block)
        whole = b"".join(rest)
        try:
            yield from _RAWS.decode(whole)
        except (msgspec.DecodeError, RecursionError):
            yield from _lines_of(whole)  # an array, then other lines: each line on its own
        return
    pretty = stripped.startswith(b"[")
    buffer = bytearray(stripped[1:] if pretty else stripped)
    done = False
    while True:
        cut = 0
        if pretty:
            for match in _PRETTY_END.finditer(buffer):
                record = bytes(buffer[cut : match.start() + 4]).strip().lstrip(b",").strip()
                if record:
                    yield record
                cut = match.end()
        else:
            end = buffer.rfind(b"\n")
            if end >= 0:
                for line in bytes(buffer[:end]).split(b"\n"):
                    line = line.strip().rstrip(b",")
                    if line and line not in (b"[", b"]"):
                        yield line
                cut = end + 1
        del buffer[:cut]
        if done:
            break
        if len(buffer) > MAX_RECORD_BYTES:  # no end in sight: skip to the next one
            yield bytes(buffer[: MAX_RECORD_BYTES + 1])
            buffer.clear()
        block = read(_BLOCK)
        if not block:
            done = True
            buffer += b"\n"
            continue
        buffer += block
    tail = bytes(buffer).strip().rstrip(b"]").strip().rstrip(b",")
    if tail:
        yield tail


def _lines_of(data: bytes) -> Iterator[bytes | memoryview]:
    for line in data.split(b"\n"):
        line = line.strip().rstrip(b",")
        if not line or line in (b"[", b"]"):
            continue
        if line.startswith(b"["):
            try:
                yield from _RAWS.decode(line)
                continue
            except (msgspec.DecodeError, RecursionError):
                pass
        yield line


def read_log_stream(read: Callable[[int], bytes]) -> LogFile:
    """Every record of a stream, judged one by one."""
    entries: list[LogEntry] = []
    skipped: Counter[str] = Counter()
    size = 0
    counted = _Counting(read)
    for record in iter_records(counted):
        judged = judge_record(record)
        if isinstance(judged, str):
            skipped[judged] += 1
        else:
            entries.append(judged)
    size = counted.total
    return LogFile(entries, dict(skipped), size)


class _Counting:
    def __init__(self, read: Callable[[int], bytes]) -> None:
        self.read, self.total = read, 0

    def __call__(self, size: int) -> bytes:
        block = self.read(size)
        self.total += len(block)
        return block


def parse_log_text(text: str) -> LogFile:
    """Parse a JSON array or JSON lines of LogEntry objects held in memory."""
    return read_log_stream(io.BytesIO(text.encode("utf-8", errors="replace")).read)


def read_log_file(path: str) -> LogFile:
    """Read a file, or standard input for `-`, record by record.

    Raises:
        OSError: the file cannot be read (or is a folder).
    """
    if path == "-":
        return read_log_stream(sys.stdin.buffer.read)
    with open(path, "rb") as handle:
        return read_log_stream(handle.read)
