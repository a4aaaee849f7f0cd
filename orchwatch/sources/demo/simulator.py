"""The live demo: the scenario's events applied as a clock moves past them, the logs
written up to each, deploy and rollback requests from the demo's own commands."""

from __future__ import annotations

import bisect
import json
import os
import random
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from orchwatch.clock import Clock
from orchwatch.config import Config
from orchwatch.model import (
    BackupRow,
    ExecutionLogRow,
    LogEntry,
    TrafficStatus,
)
from orchwatch.pubsub import OutgoingMessage, processor_key
from orchwatch.sources.demo.events import (
    BOUNDARIES,
    Event,
    RevisionChanged,
    Run,
    ServiceChanged,
    apply_events,
    firestore_record,
)
from orchwatch.sources.demo.logs import (
    CRASH_SERVICE,
    FIXED_LABEL,
    PROCESSOR_SERVICES,
    DemoLogStream,
    completion_lines,
)
from orchwatch.sources.demo.moments import LOG_HISTORY
from orchwatch.sources.demo.pubsub import FIXED_AT
from orchwatch.sources.demo.revisions import _deploy
from orchwatch.sources.demo.scenario import UNTRACKED
from orchwatch.sources.demo.serving import ServingLookup
from orchwatch.sources.local import LocalStore


class DemoSimulator:
    """Applies the scenario's events to a store as a clock moves past them."""

    def __init__(
        self,
        store: LocalStore,
        events: Sequence[Event],
        clock: Clock,
        logs: DemoLogStream | None = None,
        serving: ServingLookup | None = None,
        logged_until: datetime | None = None,
        config: Config | None = None,
    ) -> None:
        self.store = store
        self.clock: Clock = clock
        self.logs = logs
        self.serving = serving
        self.config = config
        self.spool = Path(tempfile.mkdtemp(prefix="orchwatch-demo-spool-"))
        """Deploy requests from the demo repo's scripts (see `orchwatch demo-deploy`)."""
        self._events = list(events)
        self._next = 0
        self._logged_until = logged_until or clock.now() - LOG_HISTORY
        self._logs_from = self._logged_until
        """The log window's start: a run before it is in the stores, not in the logs."""
        self._recorded: dict[tuple[str, date], set[str]] = {}
        """(phase, date) -> the processors Firestore holds, kept as runs are applied."""
        self._pending: list[LogEntry] = []
        """Lines of the runs applied, written with the others in time order (the tail
        shows lines in the order they were written)."""
        self._lock = threading.Lock()  # panes refresh from several worker threads

    def advance(self) -> int:
        """Apply every event due by the clock's now, and write the logs up to it; returns
        how many events and log entries were written.

        Time is walked forward: the logs up to a revision or service event are written
        with what served before it, then the event is applied. So a replay to any moment
        (`--as-of`) holds the logs the live demo wrote by then, and no service logs from a
        revision before that revision exists."""
        with self._lock:
            now = self.clock.now()
            self._read_spool(now)
            fixed = self._fixed(now)
            applied = written = 0
            while self._next < len(self._events) and self._events[self._next].at <= now:
                fixed = self._fixed(self._events[self._next - 1].at if self._next else now)
                end = self._next
                while end < len(self._events) and self._events[end].at <= now:
                    if isinstance(self._events[end], BOUNDARIES):
                        break
                    end += 1
                if end == self._next:  # a revision or service event: logs up to it first
                    written += self._log_until(self._events[end].at)
                    end += 1
                batch = self._events[self._next : end]
                self._log_completions(batch, fixed)
                apply_events(self.store, batch, track_all=fixed)
                if self.serving is not None and isinstance(batch[-1], BOUNDARIES):
                    self.serving.invalidate()
                self._next = end
                applied += len(batch)
            if fixed:
                self._trigger_after_fix(now)
            written += self._log_until(now)
            return applied + written

    def _fixed(self, since: datetime) -> bool:
        """Whether the fix of the crash-looping orchestrator serves; the first time it
        does, `since` (the event that made it serve) is kept as when pushes began to be
        accepted. Asked before every batch: batches end at revision and service events."""
        fixed = self.serving is not None and self.serving.get(CRASH_SERVICE)[1]
        if fixed and self.store.get_meta(FIXED_AT) is None:
            self.store.set_meta(FIXED_AT, since.isoformat())
        return fixed

    def _log_completions(self, batch: Sequence[Event], fixed: bool) -> None:
        """The log lines of the runs in `batch` inside the log window: each processor's
        rows written and, when its message reached the orchestrator, the orchestrator's
        record with the Firestore count it makes (`completion_lines`)."""
        runs = [e for e in batch if isinstance(e, Run) and e.at > self._logs_from]
        if not runs or self.logs is None or self.config is None:
            return
        phases = {phase.name: phase for phase in self.config.phases}
        entries: list[LogEntry] = []
        for run in runs:
            phase = phases.get(run.row.phase)
            if phase is None or not phase.orchestrator:
                continue
            key = (run.row.phase, run.row.game_date)
            if key not in self._recorded:
                found = self.store.fetch_completions([run.row.game_date])[run.row.game_date]
                document = found.firestore.get(run.row.phase)
                self._recorded[key] = set(document.records) if document is not None else set()
            recorded: int | None = None
            if run.tracked or fixed:
                self._recorded[key].add(run.row.processor_name)
                recorded = len(self._recorded[key])
            processors = next(
                (s for s in PROCESSOR_SERVICES if s.startswith(f"nba-{run.row.phase}-")), None
            )
            entries += completion_lines(
                run.at,
                (phase.orchestrator, self._serving(phase.orchestrator)),
                (processors, self._serving(processors)) if processors else None,
                run.row,
                recorded,
                len(phase.processors),
            )
        self._pending += entries

    def _serving(self, service: str) -> str:
        return self.serving.get(service)[0] if self.serving is not None else ""

    def _log_until(self, moment: datetime) -> int:
        """Write the services' logs from where they stopped up to `moment` (with what
        serves now), the runs' lines among them, in time order; returns how many."""
        if self.logs is None:
            return 0
        due = [e for e in self._pending if e.timestamp <= moment]
        self._pending = [e for e in self._pending if e.timestamp > moment]
        entries = due
        if moment > self._logged_until:
            entries += self.logs.between(self._logged_until, moment)
            self._logged_until = moment
        entries.sort(key=lambda e: (e.timestamp, e.insert_id))
        self.store.insert_log(entries)
        return len(entries)

    def _read_spool(self, now: datetime) -> None:
        """Turn deploy requests into revision events: pending now, Ready (or failed,
        following the validator) half a minute later; a Ready fix of the crash-looping
        orchestrator carries the label that stops its crash loop. A rollback request
        moves the traffic 20 seconds later, as `update-traffic` does."""
        for request_path in sorted(self.spool.glob("*.json")):
            try:
                request = json.loads(request_path.read_text(encoding="utf-8"))
                service = str(request["service"])
                target = str(request["revision"]) if "revision" in request else None
                ok = bool(request.get("ok", False))
            except (OSError, ValueError, KeyError, AttributeError):
                request_path.unlink(missing_ok=True)
                continue
            request_path.unlink(missing_ok=True)
            if target is not None:
                self._move_traffic(service, target, now + timedelta(seconds=20))
                continue
            # The user's deploy supersedes whatever the scenario had scheduled for the service.
            self._events[self._next :] = [
                e
                for e in self._events[self._next :]
                if not (isinstance(e, RevisionChanged) and e.revision.service == service)
                and not (isinstance(e, ServiceChanged) and e.service == service)
            ]
            found = self.store.fetch_services([service])
            previous = found[0].latest_ready_revision if found else None
            number = (
                1 + max((int(r.name.rsplit("-", 2)[1]) for r in found[0].revisions), default=0)
                if found
                else 1
            )
            rng = random.Random(request_path.name)
            events, _, _ = _deploy(
                service, number, now, rng, previous, fails=not ok, settle=timedelta(seconds=30)
            )
            if ok and service == CRASH_SERVICE:
                events = [
                    RevisionChanged(
                        e.at, replace(e.revision, labels={**e.revision.labels, FIXED_LABEL: "true"})
                    )
                    if isinstance(e, RevisionChanged)
                    else e
                    for e in events
                ]
            for event in events:
                bisect.insort(self._events, event, lo=self._next, key=lambda e: e.at)

    def _move_traffic(self, service: str, revision: str, at: datetime) -> None:
        """All of `service`'s traffic to `revision` (pinned), if it has that revision."""
        found = self.store.fetch_services([service])
        if not found or revision not in {r.name for r in found[0].revisions}:
            return
        state = found[0]
        event = ServiceChanged(
            at,
            service,
            state.latest_created_revision,
            state.latest_ready_revision,
            (TrafficStatus(revision, 100),),
            pinned_to=(revision,),
        )
        bisect.insort(self._events, event, lo=self._next, key=lambda e: e.at)

    def _trigger_after_fix(self, now: datetime) -> None:
        """With no message lost any more, a phase whose required processors are all in
        Firestore gets triggered, as the orchestrator would."""
        if self.config is None:
            return
        for day, phases in UNTRACKED.items():
            for phase_name in phases:
                self._trigger_if_complete(phase_name, day, now)

    def _trigger_if_complete(self, phase_name: str, day: date, now: datetime) -> bool:
        """Trigger the next phase if every required processor is in Firestore and it was
        not triggered yet, as the orchestrator does on the completion that completes it."""
        assert self.config is not None
        spec = self.config.phase(phase_name)
        document = self.store.fetch_completions([day])[day].firestore.get(phase_name)
        required = [p.name for p in spec.processors if p.required]
        if document is None or document.triggered or spec.next_phase is None:
            return False
        if not all(name in document.records for name in required):
            return False
        self.store.mark_triggered(phase_name, day, now, "all_complete", "same_day")
        self.store.insert_execution_log(
            [
                ExecutionLogRow(
                    now,
                    f"{phase_name}_to_{spec.next_phase}",
                    day,
                    f"corr-{day:%Y%m%d}-{phase_name}-fix",
                    1.2,
                    9,
                    "success",
                )
            ]
        )
        return True

    def deliver(self, topic: str, messages: Sequence[OutgoingMessage]) -> bool:
        """Push published messages to the orchestrator of the phase whose completion topic
        `topic` is: a healthy one records each completion (and triggers the next phase when
        it completes the phase); a crash-looping one refuses them (and they are gone).
        Returns whether they were accepted."""
        if self.config is None:
            return False
        phase = next((p for p in self.config.phases if p.completion_topic == topic), None)
        if phase is None or not phase.orchestrator:
            return True  # a trigger topic: its processors accept, and nothing here moves
        with self._lock:
            now = self.clock.now()
            service = phase.orchestrator
            healthy = self.serving is None or (
                self.serving.get(service)[1] or not self.serving.crashing(service, now)
            )
            if not healthy:
                return False
            expected = [p.name for p in phase.processors]
            entries: list[LogEntry] = []
            days: set[date] = set()
            for message in messages:
                try:
                    data = json.loads(message.data)
                    day = date.fromisoformat(str(data["game_date"]))
                    name = processor_key(
                        str(data["processor_name"]), data.get("output_table"), expected
                    )
                except (ValueError, KeyError, TypeError):
                    continue  # the orchestrator logs a bad message and acks it
                row = BackupRow(
                    phase.name,
                    day,
                    name,
                    str(data.get("status", "success")),
                    now,
                    int(data.get("record_count") or 0),
                    data.get("correlation_id"),
                    data.get("execution_id"),
                )
                self.store.record_firestore([(phase.name, day, firestore_record(row))])
                key = (phase.name, day)
                document = self.store.fetch_completions([day])[day].firestore.get(phase.name)
                self._recorded[key] = set(document.records) if document is not None else set()
                entries += completion_lines(
                    now,
                    (service, self._serving(service)),
                    None,
                    row,
                    len(self._recorded[key]),
                    len(phase.processors),
                )
                days.add(day)
            for day in sorted(days):
                self._trigger_if_complete(phase.name, day, now)
            self._pending += entries
            return True

    @property
    def applied(self) -> int:
        """Events applied so far."""
        return self._next

    @property
    def pending(self) -> int:
        """Events still in the future."""
        return len(self._events) - self._next


class FrozenAt:
    """A clock stopped at one moment (to build the cacheable state at DEMO_START)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        """The moment."""
        return self.at


class DemoActions:
    """The demo takes its actions itself: a deploy script run with the spool in
    ORCHWATCH_DEMO_SPOOL hands its deploy to the simulator (`orchwatch demo-deploy`), and a
    rollback moves the simulator's traffic (`orchwatch demo-rollback`), never Google Cloud."""

    def __init__(self, spool: Path) -> None:
        self.spool = spool

    def environment(self) -> dict[str, str]:
        """orchwatch's environment, with the spool and the Python that serves the demo."""
        return {
            **os.environ,
            "ORCHWATCH_DEMO_SPOOL": str(self.spool),
            "ORCHWATCH_PYTHON": sys.executable,
        }

    def rollback_argv(self, service: str, revision: str) -> list[str]:
        """`orchwatch demo-rollback`, which asks the simulator to move the traffic."""
        return [
            sys.executable,
            "-m",
            "orchwatch",
            "demo-rollback",
            "--service",
            service,
            "--revision",
            revision,
        ]
