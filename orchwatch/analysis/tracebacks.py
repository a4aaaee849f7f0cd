"""Log entries -> traceback events -> fingerprinted groups. Pure; no I/O.

On Cloud Run a traceback written to stderr arrives as one entry per line,
interleaved between instances and upside down when read newest first. The
reassembler keys lines by (service, revision, instance), orders them by time
within a small window, and runs a line state machine per key:

    idle --"Traceback (most recent call last):" / "  File ..." / "+ Exception Group..."--> body
    body --indented or blank line--> body
    body --"ExceptionType: message" at column 0--> after_final
    after_final --blank--> after_final
    after_final --"During handling of the above exception..." /
                  "The above exception was the direct cause..."--> chain
    chain --"Traceback ..." / "+ Exception Group ..."--> body / group
    group --lines starting with "|" or "+" (any indent)--> group
    anything else closes the event (and the line is read afresh).

A key's event also closes when its lines stop for longer than `gap`, and at the end.
Entries that carry a whole traceback (textPayload with newlines, or
jsonPayload.message + stack_trace) go through the same machine on their own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter

from orchwatch.model import (
    SEGMENT_END,
    ErrorGroup,
    LogEntry,
    LogLine,
    Revision,
    TracebackEvent,
    line_entry,
    log_line,
)

TRACEBACK_START = "Traceback (most recent call last):"
CHAIN_LINES = frozenset(
    {
        "During handling of the above exception, another exception occurred:",
        "The above exception was the direct cause of the following exception:",
    }
)
_GROUP_START = re.compile(r"^\s*\+ Exception Group Traceback \(most recent call last\):")
_GROUP_LINE = re.compile(r"^\s*[|+]")
_FRAME = re.compile(r'^[\s|]*File "(?P<file>[^"]+)", line \d+(?:, in (?P<func>.+))?')
_FINAL = re.compile(r"^(?P<type>[A-Za-z_][\w.]*+)(?::(?: (?P<msg>.*))?)?$")
_GROUP_FINAL = re.compile(r"^[\s|]*(?P<type>[A-Za-z_][\w.]*Group): (?P<msg>.*)$")

REORDER_WINDOW = timedelta(seconds=2)
"""Lines of one instance may arrive this much out of order."""
GAP = timedelta(seconds=5)
"""A traceback whose lines stop for longer than this is closed."""
TOP_FRAMES = 3


@dataclass
class _Open:
    lines: list[str]
    ids: list[str]
    first: datetime
    last: datetime
    phase: str
    entry: LogEntry


Key = tuple[str, str, str]


def _is_start(line: str) -> str | None:
    if line == TRACEBACK_START:
        return "body"
    if _GROUP_START.match(line):
        return "group"
    if line.startswith("  File ") and _FRAME.match(line):  # a SyntaxError without a header
        return "body"
    return None


class Reassembler:
    """Streaming reassembly: `feed` entries in any order, collect events; `flush` at the end."""

    def __init__(self, window: timedelta = REORDER_WINDOW, gap: timedelta = GAP) -> None:
        self.window = window
        self.gap = gap
        self._open: dict[Key, _Open] = {}
        self._pending: list[tuple[datetime, int, LogEntry]] = []
        self._seq = 0
        self._high_water: datetime | None = None

    def feed(self, entries: Iterable[LogEntry]) -> list[TracebackEvent]:
        """Take entries; return the events completed so far (late lines wait for the window)."""
        for entry in entries:
            self._seq += 1
            self._pending.append((entry.timestamp, self._seq, entry))
            if self._high_water is None or entry.timestamp > self._high_water:
                self._high_water = entry.timestamp
        if self._high_water is None:
            return []
        return self._release(self._high_water - self.window)

    def tick(self, now: datetime) -> list[TracebackEvent]:
        """The stream is quiet up to `now`: release late lines and close idle events."""
        if self._high_water is None or now > self._high_water:
            self._high_water = now
        return self._release(self._high_water - self.window)

    def flush(self) -> list[TracebackEvent]:
        """Process everything pending and close every open event."""
        events = self._release(None)
        for key in list(self._open):
            events.extend(self._close(key))
        return events

    def _release(self, upto: datetime | None) -> list[TracebackEvent]:
        # Lines of one timestamp are ordered as the API orders them, by insertId (an array
        # read newest first would otherwise give them upside down), then by arrival.
        self._pending.sort(key=lambda item: (item[0], item[2].insert_id, item[1]))
        if upto is None:
            ready, self._pending = self._pending, []
        else:
            cut = 0
            while cut < len(self._pending) and self._pending[cut][0] <= upto:
                cut += 1
            ready, self._pending = self._pending[:cut], self._pending[cut:]
        events: list[TracebackEvent] = []
        for _, _, entry in ready:
            events.extend(self._entry(entry))
        if upto is not None:  # close events whose lines stopped coming
            for key, state in list(self._open.items()):
                if state.last < upto - self.gap:
                    events.extend(self._close(key))
        return events

    def _entry(self, entry: LogEntry) -> list[TracebackEvent]:
        text = entry.text
        if "\n" in text:  # a whole traceback in one entry: its own machine
            key: Key = (entry.service, entry.revision, f"{entry.instance}#{entry.insert_id}")
            events: list[TracebackEvent] = []
            for line in text.splitlines():
                events.extend(self._line(key, line.rstrip(), entry))
            events.extend(self._close(key))
            return events
        key = (entry.service, entry.revision, entry.instance)
        state = self._open.get(key)
        if state is not None and entry.timestamp - state.last > self.gap:
            return [*self._close(key), *self._line(key, text.rstrip(), entry)]
        return self._line(key, text.rstrip(), entry)

    def _line(self, key: Key, line: str, entry: LogEntry) -> list[TracebackEvent]:
        state = self._open.get(key)
        if state is None:
            phase = _is_start(line)
            if phase is not None:
                self._open[key] = _Open(
                    [line], [entry.insert_id], entry.timestamp, entry.timestamp, phase, entry
                )
            return []
        phase = state.phase
        accept: str | None = None
        if phase == "body":
            if not line or line[0].isspace():
                accept = "body"
            elif _FINAL.match(line):
                accept = "after_final"
        elif phase == "after_final":
            if not line:
                accept = "after_final"
            elif line in CHAIN_LINES:
                accept = "chain"
            elif (line[0].isspace() and not _FRAME.match(line)) or line == ">":
                # The final message goes on: every gRPC error from google-api-core prints
                # `_InactiveRpcError` with tab-indented status/details lines and a `>`.
                accept = "after_final"
        elif phase == "chain":
            accept = "chain" if not line else _is_start(line)
        elif phase == "group" and (not line or _GROUP_LINE.match(line)):
            accept = "group"
        elif phase == "group" and line in CHAIN_LINES:  # a group, then the handler's error
            accept = "chain"
        if accept is None:
            return [*self._close(key), *self._line(key, line, entry)]
        state.lines.append(line)
        if entry.insert_id and (not state.ids or state.ids[-1] != entry.insert_id):
            state.ids.append(entry.insert_id)
        state.last = max(state.last, entry.timestamp)
        state.phase = accept
        return []

    def _close(self, key: Key) -> list[TracebackEvent]:
        state = self._open.pop(key, None)
        if state is None:
            return []
        while state.lines and not state.lines[-1]:
            state.lines.pop()
        event = _event(state)
        return [event] if event is not None else []


def _event(state: _Open) -> TracebackEvent | None:
    lines = state.lines
    if len(lines) < 2:
        return None
    exception_type, message = "", ""
    chained = any(line in CHAIN_LINES for line in lines)  # then the last exception is raised
    if not chained and (
        state.phase == "group" or any(_GROUP_START.match(line) for line in lines[:1])
    ):
        for line in lines:
            match = _GROUP_FINAL.match(line)
            if match:
                exception_type, message = match["type"], match["msg"]
                break
    if not exception_type:
        for line in reversed(lines):
            if (
                line
                and not line[0].isspace()
                and line not in CHAIN_LINES
                and line != TRACEBACK_START
            ):
                match = _FINAL.match(line)
                if match:
                    exception_type, message = match["type"], match["msg"] or ""
                    break
    if not exception_type:
        exception_type, message = "(truncated traceback)", ""
    last_section = 0
    for index, line in enumerate(lines):
        if line in CHAIN_LINES:
            last_section = index
    frames = tuple(
        (m["file"], m["func"] or "")
        for m in (_FRAME.match(line) for line in lines[last_section:])
        if m is not None
    )
    entry = state.entry
    return TracebackEvent(
        exception_type=exception_type,
        message=message,
        frames=frames,
        text="\n".join(lines),
        timestamp=state.first,
        service=entry.service,
        revision=entry.revision,
        instance=entry.instance,
        entry_ids=tuple(state.ids),
    )


_CONTINUES = re.compile(
    "|".join(
        [
            r"[\s|+>]|\Z",  # indented, a group's frame, a gRPC error's end, blank
            *(re.escape(line) + r"\s*\Z" for line in (TRACEBACK_START, *CHAIN_LINES)),
            r"[A-Za-z_][\w.]*+(?::(?: .*)?)?\s*+\Z",  # _FINAL; possessive: fails fast
        ]
    )
)


def in_traceback(text: str) -> bool:
    """Whether a one-line entry's text can be a line of a traceback, its first included
    (what a severity threshold must not hide when Cloud Run gave it no severity)."""
    return _is_start(text) is not None or continues_traceback(text)


def continues_traceback(text: str) -> bool:
    """Whether a one-line entry's text can be a line of a traceback.

    Every other line only ends the traceback its instance had open: it is not a start, and
    no state of the machine above accepts it. `StreamReassembler` relies on this."""
    return _CONTINUES.match(text) is not None


assert not in_traceback(SEGMENT_END), "a segment end must end what its instance had open"

_AT = itemgetter(0)  # a LogLine's timestamp
_ORDER = itemgetter(0, 1)  # its (timestamp, insert id): the API's order


class StreamReassembler:
    """Reassembly of a finite stream read once (a file, newest or oldest first) in memory
    bounded by the tracebacks open at a time, not by the length of the stream.

    A line that cannot belong to a traceback (`continues_traceback`) only closes what its
    instance had open, so an instance's lines between two such lines (a segment) are
    reassembled on their own, in time order, as soon as the segment ends, and the lines that
    end segments are never kept. Lines are put in order within `window` of each other
    first, in the direction the stream runs (decided by its first batch), so a stream that
    is slightly out of order reads as if it were sorted.
    """

    MAX_SEGMENT = 20_000
    """An instance's unbroken traceback lines are reassembled in pieces of this many."""

    def __init__(self, window: timedelta = REORDER_WINDOW, gap: timedelta = GAP) -> None:
        self.window, self.gap = window, gap
        self._machine = Reassembler(window=timedelta(0), gap=gap)
        self._pending: list[LogLine] = []
        self._segments: dict[Key, list[LogEntry]] = {}
        self._newest_first: bool | None = None
        self.earliest: datetime | None = None
        """The earliest timestamp read: how far back the stream reaches."""
        self.count = 0

    @property
    def held(self) -> int:
        """How many lines are held in memory now, waiting for their order or their segment."""
        return len(self._pending) + sum(map(len, self._segments.values()))

    def add(self, lines: list[LogLine]) -> list[TracebackEvent]:
        """Take a batch of lines; return the tracebacks completed so far."""
        if not lines:
            return []
        self.count += len(lines)
        if self._newest_first is None and lines[0][0] != lines[-1][0]:
            self._newest_first = lines[0][0] > lines[-1][0]
        self._pending.extend(lines)
        return self._release(final=False)

    def finish(self) -> list[TracebackEvent]:
        """The stream has ended: every traceback still open."""
        events = self._release(final=True)
        for key in list(self._segments):
            events.extend(self._run(key, self._segments.pop(key)))
        return events

    def _release(self, final: bool) -> list[TracebackEvent]:
        pending = self._pending
        newest_first = bool(self._newest_first)
        # Nearly sorted already, so this is linear; ties keep their order (the sort is
        # stable), and a segment is put in the API's order of ties when it is reassembled.
        pending.sort(key=_AT, reverse=newest_first)
        if pending:
            low = pending[-1 if newest_first else 0][0]
            if self.earliest is None or low < self.earliest:
                self.earliest = low
        cut = len(pending)
        if not final and pending:
            frontier = pending[-1][0]
            if newest_first:
                limit = frontier + self.window
                while cut and pending[cut - 1][0] < limit:
                    cut -= 1
            else:
                limit = frontier - self.window
                while cut and pending[cut - 1][0] > limit:
                    cut -= 1
        ready, self._pending = pending[:cut], pending[cut:]
        events: list[TracebackEvent] = []
        segments, machine = self._segments, self._machine
        continues = _CONTINUES.match
        for line in ready:  # the hot loop of reading a file: kept lean on purpose
            text = line[4]
            if "\n" in text:  # a whole traceback in one entry: its own machine
                events.extend(machine._entry(line_entry(line)))
                continue
            key = line[2]
            if continues(text) is None:
                if key in segments:
                    events.extend(self._run(key, segments.pop(key)))
                continue
            segment = segments.get(key)
            if segment is None:
                segments[key] = [line_entry(line)]
            elif abs(line[0] - segment[-1].timestamp) > self.gap or (
                len(segment) >= self.MAX_SEGMENT
            ):
                events.extend(self._run(key, segment))
                segments[key] = [line_entry(line)]
            else:
                segment.append(line_entry(line))
        return events

    def _run(self, key: Key, segment: list[LogEntry]) -> list[TracebackEvent]:
        # Lines of one timestamp are ordered as the API orders them, by insertId.
        segment.sort(key=lambda entry: (entry.timestamp, entry.insert_id))
        events: list[TracebackEvent] = []
        for entry in segment:
            events.extend(self._machine._entry(entry))
        events.extend(self._machine._close(key))
        return events


def reassemble(entries: Iterable[LogEntry]) -> list[TracebackEvent]:
    """Every traceback in a finite set of entries, in any order (newest first is fine)."""
    stream = StreamReassembler(window=timedelta(0))
    events = stream.add(sorted((log_line(e) for e in entries), key=_ORDER))
    events.extend(stream.finish())
    return sorted(events, key=lambda e: e.timestamp)


# --- fingerprints ------------------------------------------------------------------------------

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
_TIME = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_HEX = re.compile(r"\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.I)
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+(?:\.\d+)?")  # "30.5s" -> "<n>s", not phase3
_KEEPS_NAMES = ("ModuleNotFoundError", "ImportError")


def normalize_message(exception_type: str, message: str) -> str:
    """The message with its variable parts replaced, so repeats group together.

    Numbers, ids, hex, timestamps and quoted values become placeholders; module
    names in import errors are kept (they are the error).
    """
    text = _UUID.sub("<uuid>", message)
    text = _TIME.sub("<time>", text)
    if not exception_type.endswith(_KEEPS_NAMES):
        text = _QUOTED.sub("'<v>'", text)
    text = _HEX.sub("<id>", text)
    return _NUMBER.sub("<n>", text)


def fingerprint(event: TracebackEvent) -> str:
    """Exception type, normalised message and the innermost frames (file and function)."""
    top = "|".join(f"{file}:{func}" for file, func in event.frames[-TOP_FRAMES:])
    key = f"{event.exception_type}\n{normalize_message(event.exception_type, event.message)}\n{top}"
    return hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:12]


@dataclass
class _Accumulator:
    exception_type: str
    message: str
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    services: set[str] = field(default_factory=set)
    revisions: set[str] = field(default_factory=set)
    sample: str = ""


class Grouper:
    """Accumulates events into groups; cheap to feed incrementally."""

    def __init__(self, track_entries: bool = True) -> None:
        self._groups: dict[str, _Accumulator] = {}
        self._track_entries = track_entries
        self.by_entry: dict[str, str] = {}
        """insert id -> fingerprint, to jump from a tail line to its group (when tracked:
        a file read once has no tail to jump from, and millions of ids)."""

    def add(self, events: Iterable[TracebackEvent]) -> None:
        """Count events into their groups."""
        for event in events:
            key = fingerprint(event)
            group = self._groups.get(key)
            if group is None:
                group = _Accumulator(
                    event.exception_type, normalize_message(event.exception_type, event.message)
                )
                self._groups[key] = group
            group.count += 1
            if group.first is None or event.timestamp < group.first:
                group.first = event.timestamp
            if group.last is None or event.timestamp >= group.last:
                group.last = event.timestamp
                group.sample = event.text
            if event.service:
                group.services.add(event.service)
            if event.revision:
                group.revisions.add(event.revision)
            if self._track_entries:
                for entry_id in event.entry_ids:
                    self.by_entry[entry_id] = key

    def groups(
        self,
        revisions: Mapping[str, Sequence[Revision]] | None = None,
        coverage_start: datetime | None = None,
    ) -> list[ErrorGroup]:
        """Groups, most recently active and most frequent first."""
        result = []
        for key, acc in self._groups.items():
            assert acc.first is not None and acc.last is not None
            result.append(
                ErrorGroup(
                    fingerprint=key,
                    exception_type=acc.exception_type,
                    message=acc.message,
                    count=acc.count,
                    first_seen=acc.first,
                    last_seen=acc.last,
                    services=tuple(sorted(acc.services)),
                    revisions=tuple(sorted(acc.revisions)),
                    sample=acc.sample,
                    new_since=_new_since(acc, revisions or {}, coverage_start),
                )
            )
        newest = max((g.last_seen for g in result), default=None)

        def order(group: ErrorGroup) -> tuple[bool, int, float]:
            active = newest is not None and newest - group.last_seen <= timedelta(minutes=15)
            return (not active, -group.count, -group.last_seen.timestamp())

        return sorted(result, key=order)


def _new_since(
    group: _Accumulator,
    revisions: Mapping[str, Sequence[Revision]],
    coverage_start: datetime | None,
) -> str | None:
    """The revision the group started with: the newest one created before it first appeared,
    when the group has events from it and the logs reach back past its creation."""
    if group.first is None or coverage_start is None:
        return None
    best: Revision | None = None
    for service in group.services:
        for revision in revisions.get(service, ()):
            if revision.create_time <= group.first and (
                best is None or revision.create_time > best.create_time
            ):
                best = revision
    if best is None or best.create_time < coverage_start or best.name not in group.revisions:
        return None
    return best.name


def group_entries(
    entries: Iterable[LogEntry],
    revisions: Mapping[str, Sequence[Revision]] | None = None,
) -> list[ErrorGroup]:
    """Reassemble and group a finite set of entries."""
    return group_lines([sorted((log_line(e) for e in entries), key=_ORDER)], revisions)[0]


def group_lines(
    batches: Iterable[list[LogLine]],
    revisions: Mapping[str, Sequence[Revision]] | None = None,
    coverage_start: datetime | None = None,
) -> tuple[list[ErrorGroup], int]:
    """Reassemble and group a stream read once, batch by batch, in bounded memory
    (`StreamReassembler`); the groups, and how many lines were read. The stream reaches
    back to its earliest line unless `coverage_start` says it reaches further (a reduced
    read whose window began before its first line)."""
    stream = StreamReassembler()
    grouper = Grouper(track_entries=False)
    for batch in batches:
        grouper.add(stream.add(batch))
    grouper.add(stream.finish())
    return grouper.groups(revisions, coverage_start or stream.earliest), stream.count
