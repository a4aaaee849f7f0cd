"""Read what `gcloud logging read --format=json` prints (a JSON array of LogEntry
objects), or JSON lines of the same objects, into `LogEntry`s.

Records are read as a stream and judged one by one: a record with a bad field is
skipped and counted by reason, the rest are read; nothing in a record (its size, its
nesting, its dates, invalid UTF-8) can stop the read.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import msgspec

from orchwatch.model import LogEntry, LogLine, line_entry

# gc=False: freshly decoded JSON cannot refer back to the structs that hold it, so they can
# never be part of a cycle, and leaving a million of them out of the cycle collector's walks
# makes a read about 1.5x faster.


class _ResourceLabels(msgspec.Struct, gc=False):
    service_name: str = ""
    revision_name: str = ""
    function_name: str = ""


class _Resource(msgspec.Struct, gc=False):
    labels: _ResourceLabels = msgspec.field(default_factory=_ResourceLabels)


class _Labels(msgspec.Struct, rename={"instance_camel": "instanceId"}, gc=False):
    instance_camel: str = ""
    instance_id: str = ""


class _Entry(msgspec.Struct, rename="camel", gc=False):
    """The fields of a LogEntry orchwatch reads; the decoder skips the rest unbuilt."""

    timestamp: datetime | None = None
    severity: str = "DEFAULT"
    text_payload: str | None = None
    json_payload: dict[str, Any] | None = None
    resource: _Resource = msgspec.field(default_factory=_Resource)
    labels: _Labels = msgspec.field(default_factory=_Labels)
    insert_id: str = ""


def payload_text(payload: dict[str, Any]) -> str:
    """A jsonPayload's text: its message, with the stack trace when it has one."""
    message = payload.get("message") or payload.get("textPayload") or ""
    trace = payload.get("stack_trace") or payload.get("stackTrace") or ""
    if not isinstance(message, str):
        message = str(message)
    if trace and isinstance(trace, str):
        return f"{message}\n{trace}" if message and trace not in message else trace
    return message


MAX_RECORD_BYTES = 4 * 1024 * 1024
"""A record larger than this is skipped and counted (Cloud Logging caps an entry at 256 KiB)."""
MAX_TEXT = 64 * 1024
"""An entry's text is kept up to this many characters, then cut with a count."""
_BLOCK = 1 << 20
_EARLIEST, _LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
_PRETTY_END = re.compile(rb"\n  \}[ \t]*(?:,|\n\]|\]|$)")
"""Where a top-level element of gcloud's indented JSON array ends: a `}` at two spaces of
indentation. Inside a string a newline is escaped, so this cannot match within one."""
_PRETTY_SEPARATOR = b"\n  },"
"""Between two elements of gcloud's indented array."""

_COMPACT_SEPARATOR = re.compile(rb"\}\s*,\s*\{")
"""Where two objects of an array meet; also found inside strings and nested arrays, so a
cut here is checked before it is made."""
_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[\[\]{},"]')
"""A JSON string (escapes included), a bracket or comma, or a lone quote (a string that
does not end in the data read so far): what the exact scan reads."""


def _last(matches: Iterator[re.Match[bytes]]) -> re.Match[bytes] | None:
    """The last of `matches`, or None."""
    last = None
    for last in matches:  # noqa: B007 (the loop only walks to the end)
        pass
    return last


def _top_level_commas(elements: bytes | bytearray | memoryview) -> tuple[list[int], int | None]:
    """The commas between the elements of an array (given without its `[`), and where the
    `]` that closes it stands (None when it does not in `elements`): the exact cut points,
    found by a scan that steps over strings and counts brackets."""
    depth = 0
    commas: list[int] = []
    data = bytes(elements)
    for token in _TOKEN.finditer(data):
        first = data[token.start()]
        if first == 0x22:  # "
            if token.end() - token.start() == 1:
                break  # a string still open: all that follows is inside it
            continue
        if first in b"[{":
            depth += 1
        elif first in b"]}":
            depth -= 1
            if depth < 0:
                return commas, token.start()
        elif first == 0x2C and depth == 0:  # ,
            commas.append(token.start())
    return commas, None


_ONE = msgspec.json.Decoder(_Entry)
_MANY = msgspec.json.Decoder(list[_Entry])
_RAWS = msgspec.json.Decoder(list[msgspec.Raw])


def judge_entries(raws: Iterable[_Entry], skipped: Counter[str]) -> list[LogLine]:
    """Decoded records as lines; each one that cannot be read is counted in `skipped` by
    reason. (One loop with no call per record: this is most of the time a read takes.)"""
    lines: list[LogLine] = []
    append = lines.append
    for raw in raws:
        moment = raw.timestamp
        if moment is None:
            skipped["no valid timestamp"] += 1
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if not _EARLIEST <= moment < _LATEST:
            skipped["a timestamp out of range"] += 1
            continue
        text = raw.text_payload
        if text is None:
            text = payload_text(raw.json_payload or {})
        if len(text) > MAX_TEXT:
            text = f"{text[:MAX_TEXT]}… (+{len(text) - MAX_TEXT} characters)"
        where, labels = raw.resource.labels, raw.labels
        key = (
            where.service_name or where.function_name,
            where.revision_name,
            labels.instance_camel or labels.instance_id,
        )
        append((moment, raw.insert_id, key, raw.severity or "DEFAULT", text))
    return lines


def decode_record(data: bytes | memoryview) -> _Entry | str:
    """One record's bytes decoded, or why it is skipped: every record is judged on its
    own, so one bad field costs that record only."""
    if len(data) > MAX_RECORD_BYTES:
        return f"larger than {MAX_RECORD_BYTES // (1024 * 1024)} MiB"
    try:
        return _ONE.decode(data)
    except msgspec.ValidationError as exc:
        return _wrong_field(exc)
    except msgspec.DecodeError as exc:
        if "UTF-8" not in str(exc):
            return "not a JSON object"
        # Invalid UTF-8 becomes U+FFFD, as everywhere orchwatch shows text.
        return decode_record(bytes(data).decode("utf-8", errors="replace").encode())
    except RecursionError:
        return "nested too deeply"


def _wrong_field(exc: msgspec.ValidationError) -> str:
    if "`$.timestamp`" in str(exc) and "Invalid" in str(exc):
        return "no valid timestamp"
    return f"a field of the wrong type ({str(exc)[:80]})"


class LogReader:
    """The records of a gcloud JSON array or of JSON lines, read a block at a time: iterate
    for batches of lines. A batch is decoded in one call; a batch with a bad record is
    judged again record by record, so only the bad one is skipped (and counted by reason).

    Memory holds a block at a time and the record in progress, whatever the layout (one
    line, gcloud's indent or another); time is linear in the input.
    """

    def __init__(self, read: Callable[[int], bytes]) -> None:
        self._read = read
        self.bytes_read = 0
        self.skipped_by_reason: Counter[str] = Counter()

    @property
    def skipped(self) -> int:
        """How many records were skipped."""
        return sum(self.skipped_by_reason.values())

    def __iter__(self) -> Iterator[list[LogLine]]:
        for chunk, kind in self._chunks():
            yield self._decode(chunk, kind)

    def _block(self) -> bytes:
        block = self._read(_BLOCK)
        self.bytes_read += len(block)
        return block

    def _chunks(self) -> Iterator[tuple[bytes, str]]:
        """(bytes, kind): whole records, about a block at a time. Kinds: "pretty" (elements
        of gcloud's indented array, as an array), "lines", "compact" (elements of any other
        array, as an array) and "record" (one oversized record, to be judged and skipped).
        Memory holds a block and the record in progress (at most MAX_RECORD_BYTES of it)."""
        buffer = bytearray()
        while len(buffer) < 64:  # enough to tell the layout; whitespace before it is dropped
            block = self._block()
            if not block:
                break
            if self.bytes_read == len(block):
                block = block.removeprefix(b"\xef\xbb\xbf")  # a byte order mark (UTF-8)
            buffer += block.lstrip() if not buffer else block
        if not buffer:
            return
        if buffer.startswith(b"[") and not re.match(rb"\[\s*\n  \{", buffer[:64]):
            yield from self._compact(buffer)
            return
        pretty = buffer.startswith(b"[")
        if pretty:
            del buffer[:1]
        separator = _PRETTY_SEPARATOR if pretty else b"\n"
        kind = "pretty" if pretty else "lines"
        skipping = False
        while True:
            if skipping:  # inside an oversized record: drop it, up to the next separator
                end = buffer.find(separator)
                if end < 0:
                    del buffer[: -len(separator)]
                else:
                    del buffer[: end + len(separator)]
                    skipping = False
            end = buffer.rfind(separator) if not skipping else -1
            if end >= 0:
                cut = end + len(separator)
                with memoryview(buffer) as view:  # one copy: a block is most of the time
                    chunk = b"".join((b"[", view[: cut - 1], b"]") if pretty else (view[:cut],))
                yield chunk, kind
                del buffer[:cut]
            elif not skipping and len(buffer) > MAX_RECORD_BYTES:
                yield bytes(buffer[: MAX_RECORD_BYTES + 1]), "record"
                skipping = True
                del buffer[: -len(separator)]
            block = self._block()
            if not block:
                break
            buffer += block
        tail = b"" if skipping else bytes(buffer).strip()
        if pretty:
            tail = tail.removesuffix(b"]").rstrip()
        if tail:
            yield (b"[" + tail + b"]" if pretty else tail), kind

    def _compact(self, buffer: bytearray) -> Iterator[tuple[bytes, str]]:
        """The elements of an array in any layout but gcloud's (one line, another indent),
        a block at a time. A cut is first guessed where one element ends and the next
        begins (`}` `,` `{`) and checked by decoding the elements before it as raw JSON: a
        guess inside a string or a nested array cannot decode. Where it fails, a scan that
        knows strings finds the last element's end."""
        del buffer[:1]
        searched = 0
        skipping = False
        while True:
            found = _COMPACT_SEPARATOR.finditer(buffer, max(searched - 16, 0))
            # the first separator ends a record being skipped; the last one cuts a batch
            guess = next(found, None) if skipping else _last(found)
            searched = len(buffer)
            cut: tuple[int, int] | None = None
            if guess is not None and skipping:
                del buffer[: guess.end() - 1]
                skipping, searched = False, 0
            elif guess is not None:
                elements = b"[" + bytes(buffer[: guess.start() + 1]) + b"]"
                try:
                    _RAWS.decode(elements)
                    cut = (guess.start() + 1, guess.end() - 1)
                except (msgspec.DecodeError, RecursionError):
                    commas, _ = _top_level_commas(buffer)
                    cut = (commas[-1], commas[-1] + 1) if commas else None
                    elements = b"[" + bytes(buffer[: cut[0]]) + b"]" if cut else b""
            if cut is not None:
                yield elements, "compact"
                del buffer[: cut[1]]
                searched = 0
            elif skipping:
                del buffer[:-16]
                searched = len(buffer)
            elif len(buffer) > MAX_RECORD_BYTES:
                yield bytes(buffer[: MAX_RECORD_BYTES + 1]), "record"
                skipping = True
                del buffer[:-16]
                searched = 0
            block = self._block()
            if not block:
                break
            buffer += block
        tail = b"" if skipping else bytes(buffer).strip().removesuffix(b"]").rstrip()
        if tail:
            yield b"[" + tail + b"]", "compact"

    def _decode(self, chunk: bytes, kind: str) -> list[LogLine]:
        raws: list[_Entry] | None = None
        try:
            if kind in ("compact", "pretty") and len(chunk) <= MAX_RECORD_BYTES:
                raws = _MANY.decode(chunk)  # (a bigger chunk may hold a record over the cap)
            elif kind == "lines" and len(chunk) <= MAX_RECORD_BYTES:
                raws = _ONE.decode_lines(chunk)
        except (msgspec.DecodeError, RecursionError):
            raws = None
        if raws is None:  # a bad record in the batch (or a big one): judge each on its own
            raws = []
            for record in _records(chunk, kind):
                decoded = decode_record(record)
                if isinstance(decoded, str):
                    self.skipped_by_reason[decoded] += 1
                else:
                    raws.append(decoded)
        return judge_entries(raws, self.skipped_by_reason)


def _records(chunk: bytes, kind: str) -> Iterator[bytes | memoryview]:
    """A chunk's records one by one, for judging each on its own."""
    if kind == "record":
        yield chunk
    elif kind == "pretty":
        chunk, cut = chunk[1:-1], 0  # the elements, without the brackets
        for match in _PRETTY_END.finditer(chunk):
            record = chunk[cut : match.start() + 4].strip().lstrip(b",").strip()
            if record:
                yield record
            cut = match.end()
        if rest := chunk[cut:].strip().lstrip(b",").strip():
            yield rest
    elif kind == "compact":
        try:
            yield from _RAWS.decode(chunk)
        except (msgspec.DecodeError, RecursionError):
            elements = memoryview(chunk)[1:-1]  # each element between the array's commas
            commas, end = _top_level_commas(elements)
            cut = 0
            for comma in [*commas, len(elements) if end is None else end]:
                if record := bytes(elements[cut:comma]).strip():
                    yield record
                cut = comma + 1
            if end is not None:  # an array, then other lines: each judged on its own
                yield from _records(bytes(elements[end + 1 :]), "lines")
    else:
        for line in chunk.split(b"\n"):
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


def read_log_stream(read: Callable[[int], bytes]) -> LogFile:
    """Every record of a stream as an entry, held in memory (`LogReader` streams)."""
    reader = LogReader(read)
    entries = [line_entry(line) for batch in reader for line in batch]
    return LogFile(entries, dict(reader.skipped_by_reason), reader.bytes_read)


def parse_log_text(text: str) -> LogFile:
    """Parse a JSON array or JSON lines of LogEntry objects held in memory."""
    return read_log_stream(io.BytesIO(text.encode("utf-8", errors="replace")).read)


def open_log(path: str) -> contextlib.AbstractContextManager[BinaryIO]:
    """A log file to read, or standard input for `-` (left open when done).

    Raises:
        OSError: the file cannot be opened (or is a folder).
    """
    if path == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    return open(path, "rb")


def read_log_file(path: str) -> LogFile:
    """Read a file, or standard input for `-`, record by record, into memory.

    Raises:
        OSError: the file cannot be read (or is a folder).
    """
    with open_log(path) as handle:
        return read_log_stream(handle.read)
