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

from orchwatch.model import ErrorGroup, LogEntry, Revision, TracebackEvent

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
_FINAL = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::(?: (?P<msg>.*))?)?$")
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


def reassemble(entries: Iterable[LogEntry]) -> list[TracebackEvent]:
    """Every traceback in a finite set of entries, in any order (newest first is fine)."""
    ordered = sorted(
        entries, key=lambda e: (e.service, e.revision, e.instance, e.timestamp, e.insert_id)
    )
    machine = Reassembler(window=timedelta(0))
    events: list[TracebackEvent] = []
    key: Key | None = None
    for entry in ordered:
        current = (entry.service, entry.revision, entry.instance)
        if current != key and key is not None:
            events.extend(machine._close(key))
        key = current
        events.extend(machine._entry(entry))
    events.extend(machine.flush())
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

    def __init__(self) -> None:
        self._groups: dict[str, _Accumulator] = {}
        self.by_entry: dict[str, str] = {}
        """insert id -> fingerprint, to jump from a tail line to its group."""

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
    materialised = list(entries)
    grouper = Grouper()
    grouper.add(reassemble(materialised))
    start = min((e.timestamp for e in materialised), default=None)
    return grouper.groups(revisions, start)
