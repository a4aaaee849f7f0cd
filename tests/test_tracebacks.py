"""Reassembly and fingerprinting, case by case, in both Cloud Logging shapes."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from orchwatch.analysis.tracebacks import (
    Reassembler,
    fingerprint,
    group_entries,
    normalize_message,
    reassemble,
)
from orchwatch.model import LogEntry, Revision
from orchwatch.sources.logfile import parse_log_text

T0 = datetime(2026, 2, 1, 12, tzinfo=UTC)

SIMPLE = """Traceback (most recent call last):
  File "/workspace/main.py", line 7, in <module>
    from shared.validation import expected_processors
  File "/workspace/shared/validation/__init__.py", line 2, in <module>
    from .phase3_data_quality_check import check_phase3_quality
ModuleNotFoundError: No module named 'shared.validation.phase3_data_quality_check\'"""

CONTEXT = """Traceback (most recent call last):
  File "/workspace/main.py", line 10, in handler
    team = TEAMS[abbr]
KeyError: 'GSW'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/workspace/main.py", line 12, in handler
    raise RuntimeError(f"unknown team {abbr}")
RuntimeError: unknown team GSW"""

CAUSE = """Traceback (most recent call last):
  File "/workspace/a.py", line 3, in load
    return json.loads(text)
ValueError: bad json

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/workspace/main.py", line 9, in handler
    config = load(raw)
  File "/workspace/a.py", line 5, in load
    raise ConfigError("config unreadable") from exc
a.ConfigError: config unreadable"""

GROUP = """  + Exception Group Traceback (most recent call last):
  |   File "/workspace/main.py", line 20, in heal
  |     raise ExceptionGroup("2 retries failed", errors)
  | ExceptionGroup: 2 retries failed (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/workspace/main.py", line 15, in retry
    |     raise TimeoutError("retry 1 timed out")
    | TimeoutError: retry 1 timed out
    +---------------- 2 ----------------
    | ConnectionError: retry 2 refused
    +------------------------------------"""

SYNTAX = """Traceback (most recent call last):
  File "/workspace/main.py", line 3, in <module>
    import broken
  File "/workspace/broken.py", line 1
    def f(:
          ^
SyntaxError: invalid syntax"""

HEADERLESS_SYNTAX = """  File "/workspace/broken.py", line 1
    def f(:
          ^
SyntaxError: invalid syntax"""


def per_line(
    text: str, instance: str = "i1", start: datetime = T0, service: str = "svc"
) -> list[LogEntry]:
    return [
        LogEntry(
            start + timedelta(milliseconds=2 * n),
            "ERROR",
            line,
            service,
            f"{service}-00027-abc",
            instance,
            f"{instance}-{n}",
        )
        for n, line in enumerate(text.splitlines())
    ]


@pytest.mark.parametrize(
    ("text", "exception_type", "message", "frames"),
    [
        (
            SIMPLE,
            "ModuleNotFoundError",
            "No module named 'shared.validation.phase3_data_quality_check'",
            2,
        ),
        (CONTEXT, "RuntimeError", "unknown team GSW", 1),
        (CAUSE, "a.ConfigError", "config unreadable", 2),
        (GROUP, "ExceptionGroup", "2 retries failed (2 sub-exceptions)", 2),
        (SYNTAX, "SyntaxError", "invalid syntax", 2),
        (HEADERLESS_SYNTAX, "SyntaxError", "invalid syntax", 1),
    ],
)
def test_one_entry_per_line_is_reassembled(
    text: str, exception_type: str, message: str, frames: int
) -> None:
    [event] = reassemble(per_line(text))
    assert (event.exception_type, event.message, len(event.frames)) == (
        exception_type,
        message,
        frames,
    )
    assert event.text == text
    assert len(event.entry_ids) == len(text.splitlines())


@pytest.mark.parametrize("text", [SIMPLE, CONTEXT, CAUSE, GROUP, SYNTAX])
def test_whole_traceback_in_one_entry(text: str) -> None:
    entry = LogEntry(T0, "ERROR", text, "svc", "rev", "i1", "one")
    [event] = reassemble([entry])
    assert event.text == text
    assert event.entry_ids == ("one",)


def test_two_instances_interleaved_and_newest_first() -> None:
    a = per_line(SIMPLE, "a")
    b = per_line(CONTEXT, "b", T0 + timedelta(milliseconds=1))
    mixed = [x for pair in zip(a, b, strict=False) for x in pair] + a[len(b) :] + b[len(a) :]
    events = reassemble(reversed(mixed))  # gcloud logging read prints newest first
    assert sorted(e.exception_type for e in events) == ["ModuleNotFoundError", "RuntimeError"]
    assert {e.instance for e in events} == {"a", "b"}


def test_streaming_with_lines_out_of_order_within_the_window() -> None:
    lines = per_line(SIMPLE)
    shuffled = lines[:]
    random.Random(3).shuffle(shuffled)
    machine = Reassembler()
    events = machine.feed(shuffled[:3]) + machine.feed(shuffled[3:])
    events += machine.flush()
    assert [e.exception_type for e in events] == ["ModuleNotFoundError"]
    assert events[0].text == SIMPLE


def test_streaming_releases_once_the_window_passes_and_closes_on_gap() -> None:
    machine = Reassembler(window=timedelta(seconds=1), gap=timedelta(seconds=5))
    assert machine.feed(per_line(SIMPLE)) == []  # waiting for late lines / a chained part
    later = LogEntry(T0 + timedelta(seconds=30), "INFO", "hello", "svc", "r", "other", "x")
    events = machine.feed([later])
    assert [e.exception_type for e in events] == ["ModuleNotFoundError"]


def test_a_traceback_cut_off_is_closed_as_truncated() -> None:
    lines = per_line(SIMPLE)[:3]
    after = LogEntry(
        T0 + timedelta(seconds=1), "INFO", "Booting worker", "svc", "svc-00027-abc", "i1", "z"
    )
    [event] = reassemble([*lines, after])
    assert event.exception_type == "(truncated traceback)"


def test_plain_lines_are_not_events() -> None:
    entries = [
        LogEntry(T0, "INFO", "all good", "svc", "r", "i", "1"),
        LogEntry(T0, "ERROR", "ValueError: not a traceback", "svc", "r", "i", "2"),
    ]
    assert reassemble(entries) == []


# --- fingerprints and groups ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception_type", "message", "normalised"),
    [
        ("KeyError", "'GSW'", "'<v>'"),
        (
            "ValueError",
            "game 0022500644 at 2026-02-01T11:30:00Z failed",
            "game <id> at <time> failed",
        ),
        ("TimeoutError", "retry 3 timed out after 30.5s", "retry <n> timed out after <n>s"),
        (
            "RuntimeError",
            "request 3fa85f64-5717-4562-b3fc-2c963f66afa6 at 0x7f3a",
            "request <uuid> at <id>",
        ),
        (
            "ModuleNotFoundError",
            "No module named 'shared.validation.x'",
            "No module named 'shared.validation.x'",
        ),
        (
            "ImportError",
            "cannot import name 'f' from 'shared.utils'",
            "cannot import name 'f' from 'shared.utils'",
        ),
    ],
)
def test_normalize_message(exception_type: str, message: str, normalised: str) -> None:
    assert normalize_message(exception_type, message) == normalised


def test_fingerprint_ignores_line_numbers_and_values_but_not_frames() -> None:
    [a] = reassemble(per_line(CAUSE))
    [b] = reassemble(
        per_line(CAUSE.replace("line 9", "line 99").replace("line 5,", "line 50,"), "i2")
    )
    [c] = reassemble(per_line(CAUSE.replace("in load\n    raise", "in parse\n    raise"), "i3"))
    [d] = reassemble(
        per_line(CAUSE.replace("config unreadable", "config 'x.yaml' unreadable"), "i4")
    )
    [e] = reassemble(
        per_line(CAUSE.replace("config unreadable", "config 'y.yaml' unreadable"), "i5")
    )
    assert fingerprint(a) == fingerprint(b)  # line numbers do not matter
    assert fingerprint(a) != fingerprint(c)  # the function does
    assert fingerprint(d) == fingerprint(e)  # quoted values do not
    assert fingerprint(a) != fingerprint(d)


def test_groups_count_first_last_services_revisions_and_sample() -> None:
    entries = (
        per_line(SIMPLE, "a")
        + per_line(SIMPLE, "b", T0 + timedelta(minutes=2))
        + per_line(SIMPLE, "c", T0 + timedelta(minutes=4), service="other")
    )
    [group] = group_entries(entries)
    assert group.count == 3
    assert (group.first_seen, group.last_seen) == (T0, T0 + timedelta(minutes=4))
    assert group.services == ("other", "svc")
    assert group.sample == SIMPLE


def test_new_since_a_revision_when_the_logs_cover_its_creation() -> None:
    old = Revision("svc-00026-abc", "svc", T0 - timedelta(days=2))
    new = Revision("svc-00027-abc", "svc", T0 - timedelta(minutes=10))
    noise = [LogEntry(T0 - timedelta(hours=1), "INFO", "up", "svc", "svc-00026-abc", "i0", "n")]
    [group] = group_entries(noise + per_line(SIMPLE), {"svc": [new, old]})
    assert group.new_since == "svc-00027-abc"
    # logs that start after the deploy cannot say the group is new since it
    [group] = group_entries(per_line(SIMPLE), {"svc": [new, old]})
    assert group.new_since is None


# --- the file shapes ---------------------------------------------------------------------------


def gcloud_entry(
    text: str | None, n: int, *, json_payload: dict[str, object] | None = None, instance: str = "i1"
) -> dict[str, object]:
    entry: dict[str, object] = {
        "insertId": f"id{n}",
        "labels": {"instanceId": instance},
        "logName": "projects/p/logs/run.googleapis.com%2Fstderr",
        "resource": {
            "type": "cloud_run_revision",
            "labels": {
                "service_name": "svc",
                "revision_name": "svc-00027-abc",
                "location": "us-west2",
            },
        },
        "severity": "ERROR",
        "timestamp": f"{T0 + timedelta(microseconds=1500 * n):%Y-%m-%dT%H:%M:%S.%f}123Z",  # nanoseconds
    }
    if json_payload is not None:
        entry["jsonPayload"] = json_payload
    else:
        entry["textPayload"] = text
    return entry


def test_gcloud_json_array_newest_first() -> None:
    records = [gcloud_entry(line, n) for n, line in enumerate(SIMPLE.splitlines())]
    log = parse_log_text(json.dumps(list(reversed(records))))
    assert (len(log.entries), log.skipped) == (len(records), 0)
    assert log.entries[0].service == "svc" and log.entries[0].instance == "i1"
    [event] = reassemble(log.entries)
    assert event.exception_type == "ModuleNotFoundError"


def test_json_lines_with_json_payload_stack_trace_and_junk() -> None:
    lines = [
        json.dumps(
            gcloud_entry(
                None, 0, json_payload={"message": "Processing failed", "stack_trace": CONTEXT}
            )
        ),
        "this is not json",
        json.dumps({"timestamp": "not a time", "textPayload": "x"}),
        json.dumps(gcloud_entry("ok", 1)),
    ]
    log = parse_log_text("\n".join(lines))
    assert (len(log.entries), log.skipped) == (2, 2)
    assert log.entries[0].text.startswith("Processing failed\nTraceback")
    [event] = reassemble(log.entries)
    assert event.exception_type == "RuntimeError"


# --- real shapes, as Cloud Run writes them (one entry per stderr line) ------------------------

GRPC_CHAIN = """Traceback (most recent call last):
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/google/api_core/grpc_helpers.py", line 76, in error_remapped_callable
    return callable_(*args, **kwargs)
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/grpc/_channel.py", line 1181, in __call__
    return _end_unary_response_blocking(state, call, False, None)
grpc._channel._InactiveRpcError: <_InactiveRpcError of RPC that terminated with:
\tstatus = StatusCode.UNAVAILABLE
\tdetails = "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.1:443: Connection refused"
\tdebug_error_string = "UNKNOWN:Error received from peer  {grpc_message:"failed to connect", grpc_status:14}"
>

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/workspace/main.py", line 88, in orchestrate_phase3_to_phase4
    doc = db.collection("phase3_completion").document(game_date).get()
  File "/layers/google.python.pip/pip/lib/python3.11/site-packages/google/api_core/grpc_helpers.py", line 78, in error_remapped_callable
    raise exceptions.from_grpc_error(exc) from exc
google.api_core.exceptions.ServiceUnavailable: 503 failed to connect to all addresses"""

GROUP_THEN_HANDLER = """  + Exception Group Traceback (most recent call last):
  |   File "/workspace/main.py", line 40, in publish_all
  |     raise ExceptionGroup("2 publishes failed", errors)
  | ExceptionGroup: 2 publishes failed (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | TimeoutError: publish to nba-phase4-trigger timed out
    +---------------- 2 ----------------
    | TimeoutError: publish to nba-phase4-trigger timed out
    +------------------------------------

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/workspace/main.py", line 52, in orchestrate
    raise RuntimeError("phase 4 trigger not sent")
RuntimeError: phase 4 trigger not sent"""


def per_line_newest_first(text: str, *, same_timestamp: bool = False) -> str:
    records = [gcloud_entry(line, n) for n, line in enumerate(text.splitlines())]
    if same_timestamp:
        for record in records:
            record["timestamp"] = records[0]["timestamp"]
    for record, n in zip(records, range(len(records)), strict=True):
        record["insertId"] = f"id{n:04d}"  # the API's order within a timestamp
    return json.dumps(list(reversed(records)), indent=2)  # as gcloud prints: newest first


def test_a_grpc_error_message_over_several_lines_keeps_its_chain() -> None:
    groups = group_entries(parse_log_text(per_line_newest_first(GRPC_CHAIN)).entries)
    assert [(g.exception_type, g.count) for g in groups] == [
        ("google.api_core.exceptions.ServiceUnavailable", 1)
    ]  # no spurious grpc._channel._InactiveRpcError group
    assert "debug_error_string" in groups[0].sample and "direct cause" in groups[0].sample


def test_during_handling_after_an_exception_group_is_one_event() -> None:
    groups = group_entries(parse_log_text(per_line_newest_first(GROUP_THEN_HANDLER)).entries)
    assert [(g.exception_type, g.count) for g in groups] == [("RuntimeError", 1)]
    assert "ExceptionGroup: 2 publishes failed" in groups[0].sample


def test_lines_of_one_timestamp_are_ordered_by_insert_id() -> None:
    log = parse_log_text(per_line_newest_first(GRPC_CHAIN, same_timestamp=True))
    groups = group_entries(log.entries)
    assert [g.exception_type for g in groups] == ["google.api_core.exceptions.ServiceUnavailable"]
    assert groups[0].sample.startswith("Traceback (most recent call last):")


GROUP_313 = """  + Exception Group Traceback (most recent call last):
  |   File "/workspace/main.py", line 40, in retry_all
  |     raise ExceptionGroup(f"{n} retries failed", errors)
  |     ~~~~~~~~~~~~~~~~~~~~^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  | ExceptionGroup: 2 retries failed (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/workspace/main.py", line 33, in retry_all
    |     fetch(game)
    |     ~~~~~^^^^^^
    | ValueError: a
    +---------------- 2 ----------------
    | KeyError: 'b'
    +------------------------------------"""


@pytest.mark.parametrize("split", [False, True])
def test_a_top_level_exception_group_is_grouped_by_its_outermost_exception(split: bool) -> None:
    """CPython prints a top-level group from two spaces in (`  + Exception Group ...`),
    with 3.13's caret lines; in one entry or one entry a line (Cloud Run's stderr)."""
    from datetime import UTC, datetime, timedelta

    at = datetime(2026, 2, 1, 12, tzinfo=UTC)
    texts = GROUP_313.splitlines() if split else [GROUP_313]
    entries = [
        LogEntry(at + timedelta(milliseconds=n), "DEFAULT", text, "svc", "svc-1", "i", str(n))
        for n, text in enumerate(texts)
    ]
    [group] = group_entries(entries, {})
    assert (group.exception_type, group.message) == (
        "ExceptionGroup",
        "<n> retries failed (<n> sub-exceptions)",
    )
