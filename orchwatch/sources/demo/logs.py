"""The demo's log stream: INFO noise, and the tracebacks of the story.

Generated lazily, one minute of scenario time at a time, each minute from its own
seeded generator: any window of the stream is the same whatever was asked before,
and building the demo costs only the minutes before its start.

- phase3-to-phase4-orchestrator crash-loops on the missing module inside its crash
  windows: two instances print the traceback one line per entry, interleaved, every few
  minutes, until the window closes or a revision labelled as fixed serves (the deploy
  action of the demo);
- nba-phase3-analytics-processors: a KeyError, the whole traceback in one entry
  (jsonPayload.message + stack_trace style);
- auto-backfill-orchestrator: a chained exception, one line per entry;
- self-heal: an ExceptionGroup, one entry.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from orchwatch.model import BackupRow, LogEntry

CRASH_SERVICE = "phase3-to-phase4-orchestrator"
FIXED_LABEL = "orchwatch-demo-fix"
LOOP_LABEL = "orchwatch-demo-loop"
"""A revision of the demo that crash-loops while it serves (a rollback stops it)."""
PROCESSOR_SERVICES = (
    "nba-phase2-raw-processors",
    "nba-phase3-analytics-processors",
    "nba-phase4-precompute-processors",
)

CRASH = """Traceback (most recent call last):
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/functions_framework/__init__.py", line 385, in _run
    module = _function_registry.load_function_module(source)
  File "/workspace/main.py", line 7, in <module>
    from shared.validation import expected_processors
  File "/workspace/shared/validation/__init__.py", line 2, in <module>
    from .phase3_data_quality_check import check_phase3_quality
ModuleNotFoundError: No module named 'shared.validation.phase3_data_quality_check'"""

KEY_ERROR = """Processing failed for player_game_summary game_date={date}
Traceback (most recent call last):
  File "/app/processors/analytics_base.py", line 212, in run
    rows = self.transform(raw)
  File "/app/processors/player_game_summary.py", line 88, in transform
    minutes = record["min"]
KeyError: 'min'"""

CHAINED = """Traceback (most recent call last):
  File "/workspace/main.py", line 41, in find_gaps
    game = schedule[game_id]
KeyError: '{game}'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/workspace/main.py", line 58, in auto_backfill
    gaps = find_gaps(game_date)
  File "/workspace/main.py", line 44, in find_gaps
    raise RuntimeError(f"game {{game_id}} is final in the schedule but has no box score")
RuntimeError: game {game} is final in the schedule but has no box score"""

GROUP = """  + Exception Group Traceback (most recent call last):
  |   File "/workspace/main.py", line 77, in self_heal
  |     raise ExceptionGroup("{n} retries of p2_bdl_box_scores failed", errors)
  | ExceptionGroup: {n} retries of p2_bdl_box_scores failed ({n} sub-exceptions)
  +-+---------------- 1 ----------------
    | TimeoutError: retry 1 timed out after 30s
    +---------------- 2 ----------------
    | ConnectionError: retry 2: connection refused by stats.nba.com
    +------------------------------------"""

LOOP = """Traceback (most recent call last):
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/functions_framework/__init__.py", line 385, in _run
    module = _function_registry.load_function_module(source)
  File "/workspace/main.py", line 12, in <module>
    from shared.backfill import BackfillPlanner
ImportError: cannot import name 'BackfillPlanner' from 'shared.backfill' (/workspace/shared/backfill/__init__.py)"""

INFO = (
    "Health check OK (pid {n})",
    "Connection pool ready ({n} connections)",
    "Loaded configuration for {date} in 1.{n}s",
    "Heartbeat {id}",
)
"""A service's idle lines. They claim nothing about completions: what an orchestrator
recorded and what a processor wrote are logged from the completions themselves
(`completion_lines`), so the tail never says what the stores contradict."""


def completion_lines(
    at: datetime,
    orchestrator: tuple[str, str],
    processor_service: tuple[str, str] | None,
    row: BackupRow,
    recorded: int | None,
    expected: int,
) -> list[LogEntry]:
    """What a processor run logs: the processor's rows written, and, when its completion
    message reached the orchestrator (`recorded` is the phase's Firestore count after it),
    the orchestrator's record of it. A lost message logs nothing at the orchestrator.
    Services are (name, serving revision); ids come from the run, so a replay and the
    live demo write the same lines."""
    run = (row.correlation_id or "")[-3:]
    key = f"{row.phase}{row.game_date:%m%d}{row.processor_name}{run}"
    lines: list[LogEntry] = []
    if processor_service is not None:
        service, revision = processor_service
        lines.append(
            LogEntry(
                at - timedelta(milliseconds=400),
                "INFO",
                f"{row.processor_name} {row.game_date}: wrote {row.record_count} rows, "
                f"published the completion ({row.status})",
                service,
                revision,
                f"{service[:6]}-i0",
                f"w{key}",
            )
        )
    if recorded is not None:
        service, revision = orchestrator
        lines.append(
            LogEntry(
                at,
                "INFO",
                f"Recorded completion of {row.processor_name} for {row.game_date}: "
                f"{recorded}/{expected} processors complete",
                service,
                revision,
                f"{service[:6]}-i0",
                f"r{key}",
            )
        )
    return lines


def _minute_rng(seed: int, minute: int) -> random.Random:
    return random.Random(f"{seed}:log:{minute}")


class DemoLogStream:
    """Entries of the demo's services for any window of scenario time."""

    def __init__(
        self,
        seed: int,
        services: Sequence[str],
        serving_revision: Callable[[str], tuple[str, bool, bool]],
        crashing: Callable[[str, datetime], bool] = lambda service, moment: True,
    ) -> None:
        """Args:
        seed: the scenario seed.
        services: the watched services (they all log INFO noise).
        serving_revision: service -> (serving revision name, whether it is the fix,
            whether it crash-loops).
        crashing: (service, moment) -> whether the service is inside a crash window then
            (the crash loop of the story logs only inside one).
        """
        self.seed = seed
        self.services = tuple(dict.fromkeys([*services, *PROCESSOR_SERVICES]))
        self.serving_revision = serving_revision
        self.crashing = crashing
        self._counter = itertools.count()
        """Numbers the entries of the minute being generated (ids must not depend on which
        windows were asked for before, or a restored demo would differ from a fresh one)."""

    def between(self, start: datetime, end: datetime) -> list[LogEntry]:
        """Entries with start < timestamp <= end, oldest first."""
        first = int(start.timestamp() // 60)
        last = int(end.timestamp() // 60)
        entries = [
            e
            for minute in range(first, last + 1)
            for e in self._minute(minute)
            if start < e.timestamp <= end
        ]
        entries.sort(key=lambda e: e.timestamp)
        return entries

    def _minute(self, minute: int) -> Iterator[LogEntry]:
        rng = _minute_rng(self.seed, minute)
        self._counter = itertools.count()
        base = datetime.fromtimestamp(minute * 60, tz=UTC)
        day = (base - timedelta(hours=5)).date().isoformat()
        revisions = {s: self.serving_revision(s) for s in self.services}
        for service in self.services:
            revision = revisions[service][0]
            for _ in range(rng.randint(1, 2)):
                template = rng.choice(INFO)
                text = template.format(
                    proc=rng.choice(
                        (
                            "player_game_summary",
                            "team_offense_game_summary",
                            "upcoming_team_game_context",
                        )
                    ),
                    date=day,
                    id=f"{rng.getrandbits(32):08x}",
                    n=rng.randint(1, 5),
                )
                severity = "WARNING" if rng.random() < 0.05 else "INFO"
                yield self._entry(
                    base + timedelta(seconds=rng.uniform(0, 59)),
                    severity,
                    text,
                    service,
                    revision,
                    f"{service[:6]}-i0",
                )
        crash_revision, fixed, _ = revisions.get(CRASH_SERVICE, ("", True, False))
        if not fixed and CRASH_SERVICE in self.services:
            for index, instance in enumerate(("00f1a2", "00c7d9")):
                if (minute + index * 2) % 4 == 0:
                    at = base + timedelta(seconds=rng.uniform(1, 40))
                    if not self.crashing(CRASH_SERVICE, at):
                        continue
                    yield from self._lines(CRASH, at, CRASH_SERVICE, crash_revision, instance)
                    yield self._entry(
                        at + timedelta(seconds=1),
                        "ERROR",
                        "Container called exit(1).",
                        CRASH_SERVICE,
                        crash_revision,
                        instance,
                    )
        for service, (revision, _, loops) in revisions.items():
            if loops and minute % 2 == 0:  # a deploy that crash-loops while it serves
                at = base + timedelta(seconds=rng.uniform(1, 40))
                yield from self._lines(LOOP, at, service, revision, "0a11b2")
                yield self._entry(
                    at + timedelta(seconds=1),
                    "ERROR",
                    "Container called exit(1).",
                    service,
                    revision,
                    "0a11b2",
                )
        if minute % 20 == 7:
            yield self._entry(
                base + timedelta(seconds=rng.uniform(0, 59)),
                "ERROR",
                KEY_ERROR.format(date=day),
                PROCESSOR_SERVICES[1],
                "nba-phase3-analytics-processors-00112-kdq",
                "3fa0c1",
            )
        if minute % 30 == 11 and "auto-backfill-orchestrator" in self.services:
            text = CHAINED.format(game="0022500644")
            service = "auto-backfill-orchestrator"
            yield from self._lines(
                text,
                base + timedelta(seconds=rng.uniform(0, 50)),
                service,
                revisions[service][0],
                "9b1e77",
            )
        if minute % 45 == 23 and "self-heal" in self.services:
            yield self._entry(
                base + timedelta(seconds=rng.uniform(0, 59)),
                "ERROR",
                GROUP.format(n=2),
                "self-heal",
                revisions["self-heal"][0],
                "51de0a",
            )

    def _lines(
        self, text: str, at: datetime, service: str, revision: str, instance: str
    ) -> Iterator[LogEntry]:
        """A traceback as Cloud Run writes a container's stderr: one entry per line, with
        no severity (DEFAULT)."""
        for offset, line in enumerate(text.splitlines()):
            yield self._entry(
                at + timedelta(milliseconds=3 * offset),
                "DEFAULT",
                line,
                service,
                revision,
                instance,
            )

    def _entry(
        self, at: datetime, severity: str, text: str, service: str, revision: str, instance: str
    ) -> LogEntry:
        stamp = int(at.timestamp() * 1000)
        return LogEntry(
            at,
            severity,
            text,
            service,
            revision,
            instance,
            f"{stamp:x}{instance[-2:]}{next(self._counter):03x}",
        )
