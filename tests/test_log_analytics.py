"""Log Analytics: a wide window's traceback groups computed through SQL in BigQuery are the
groups the Logging API path gives on the same entries.

The same entries are served by the local Logging server and held in an `_AllLogs`-shaped
table on the BigQuery emulator: the demo's whole log, and entries written to break a
reduction that is not exact (lines that only end a traceback, JSON payloads with stack
traces and odd messages, Unicode indentation, request and system logs).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from config_helpers import MINIMAL, assert_config_error
from google.cloud import bigquery
from google.cloud.logging_v2.types import LogEntry as LogEntryProto
from google.logging.type import log_severity_pb2
from google.protobuf import struct_pb2
from loopback import seed
from loopback.log_analytics import seed_view

from orchwatch.analysis.tracebacks import in_traceback
from orchwatch.clock import FrozenClock
from orchwatch.config import Config, LogAnalytics
from orchwatch.gather import ErrorsView, gather_daily, gather_errors, gather_explain
from orchwatch.render import errors_json, errors_text
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import read_as_of
from orchwatch.sources.gcp import build_gcp_sources
from orchwatch.sources.gcp.clients import RateLimiter
from orchwatch.sources.gcp.log_analytics import ONE_LINE

PROJECT = "orchwatch-analytics"
VIEW = f"{PROJECT}.logs_linked._AllLogs"
T0 = DEMO_START - timedelta(hours=2)


def _entry(
    offset: float,
    text: str | None = None,
    *,
    instance: str = "inst-x",
    service: str = "phase3-to-phase4-orchestrator",
    severity: str = "DEFAULT",
    log: str = "run.googleapis.com%2Fstderr",
    payload: dict[str, object] | None = None,
    function: bool = False,
) -> LogEntryProto:
    labels = {"function_name": service} if function else {"service_name": service}
    if not function:
        labels["revision_name"] = f"{service}-00025-abc"
    entry = LogEntryProto(
        log_name=f"projects/{PROJECT}/logs/{log}",
        resource={"type": "cloud_function" if function else "cloud_run_revision", "labels": labels},
        timestamp=T0 + timedelta(seconds=offset),
        severity=log_severity_pb2.LogSeverity.Value(severity),
        insert_id=f"hostile-{offset:09.3f}",
        labels={"instanceId": instance} if instance else {},
    )
    if payload is not None:
        struct = struct_pb2.Struct()
        struct.update(payload)
        entry.json_payload = struct
    elif text is not None:
        entry.text_payload = text
    return entry


def hostile_entries() -> list[LogEntryProto]:
    """Entries a reduction that dropped the wrong lines would group differently."""
    frame = '  File "/workspace/main.py", line 12, in handle'
    return [
        # A header and a frame, a line that only ends it, then an exception line: two
        # events (a truncated one and nothing), never one KeyError.
        _entry(0, "Traceback (most recent call last):"),
        _entry(0.1, frame),
        _entry(0.2, "GET /complete 200 in 3 ms"),
        _entry(0.3, "KeyError: 'game_id'"),
        # A whole traceback, an ending line, then an indented line its final state would
        # have taken: the sample must not include it.
        _entry(10, "Traceback (most recent call last):", instance="inst-y"),
        _entry(10.1, frame, instance="inst-y"),
        _entry(10.2, "ValueError: boom 17", instance="inst-y"),
        _entry(10.3, "processing game 0022500123 done", instance="inst-y"),
        _entry(10.4, "    detail that belongs to nothing", instance="inst-y"),
        # A multi-line entry without a traceback inside one: it ends nothing.
        _entry(20, "Traceback (most recent call last):", instance="inst-z"),
        _entry(20.1, "batch summary\nrows: 12\nskipped: 0", instance="inst-z"),
        _entry(20.2, frame, instance="inst-z"),
        _entry(20.3, "\u2003context indented with an em space", instance="inst-z"),
        _entry(20.4, "RuntimeError: after the summary", instance="inst-z"),
        # Structured payloads: a stack trace, a number, a boolean, an empty one, a falsy
        # message that falls back to the payload's textPayload.
        _entry(
            30,
            payload={
                "message": "boom in a function",
                "stack_trace": f"Traceback (most recent call last):\n{frame}\nOSError: disk",
            },
            severity="ERROR",
            function=True,
            service="Phase3_Processor",
            instance="",
        ),
        _entry(31, payload={"message": 12.5}, instance="inst-w"),
        _entry(31.1, payload={"message": True}, instance="inst-w"),
        _entry(31.2, payload={}, instance="inst-w"),
        _entry(31.3, payload={"message": 0, "textPayload": "Traceback (most recent call last):"}),
        _entry(31.4, frame),
        _entry(31.5, "ZeroDivisionError: division by zero"),
        # No payload at all (a blank line), inside a traceback.
        _entry(40, "Traceback (most recent call last):", instance="inst-v"),
        _entry(40.1, None, instance="inst-v"),
        _entry(40.2, frame, instance="inst-v"),
        _entry(40.3, "TypeError: v", instance="inst-v"),
        # Left out by both paths: request logs, the system log below WARNING, audit logs
        # (the last without a payload: a blank line inside the traceback if it were read).
        _entry(49.9, "Traceback (most recent call last):", instance=""),
        _entry(50.05, None, log="cloudaudit.googleapis.com%2Factivity", instance=""),
        _entry(50.15, frame, instance=""),
        _entry(50.25, "LookupError: audit", instance=""),
        _entry(50, "Traceback (most recent call last):", log="run.googleapis.com%2Frequests"),
        _entry(50.1, frame, log="run.googleapis.com%2Frequests"),
        _entry(50.2, "Container called exit(1).", log="run.googleapis.com%2Fvarlog%2Fsystem"),
        _entry(
            50.3,
            "Container called exit(1).",
            log="run.googleapis.com%2Fvarlog%2Fsystem",
            severity="WARNING",
        ),
    ]


@pytest.fixture(scope="module")
def analytics_world(
    loopback: object, seeded_world: tuple[Config, Sources, object]
) -> Iterator[tuple[Config, int]]:
    """The demo's log and the hostile entries, on the Logging server and in the view."""
    config, demo, _ = seeded_world
    entries = demo.logs.fetch_log(datetime(1970, 1, 1, tzinfo=UTC), None)  # type: ignore[union-attr]
    protos = seed.entry_protos(entries, PROJECT, config.gcp_region) + hostile_entries()
    loopback.grpc.add_entries(protos)  # type: ignore[attr-defined]
    seed.seed_run(loopback.grpc, demo.completions, config, PROJECT)  # type: ignore[arg-type,attr-defined]
    writer = build_gcp_sources(config, PROJECT)
    try:
        client = writer.completions.bigquery.clients.bigquery()  # type: ignore[attr-defined]
        seed_view(client, VIEW, protos)
    finally:
        writer.close()
    analytics = LogAnalytics(f"{PROJECT}.logs_linked", "_AllLogs", timedelta(hours=6))
    gcp = replace(
        config.gcp,
        log_analytics=analytics,
        log_read_max_entries=1_000_000,  # the API path with its cap lifted
    )
    yield replace(config, gcp_project=PROJECT, gcp=gcp), len(protos)


def _sources(config: Config, now: datetime = DEMO_START) -> Sources:
    sources = build_gcp_sources(config, PROJECT, FrozenClock(now))
    # The API path pages every entry: its budget is lifted too.
    sources.logs.limiter = RateLimiter(100_000)  # type: ignore[union-attr]
    return sources


def _groups(view: ErrorsView) -> object:
    data = json.loads(errors_json(view))
    data.pop("read")
    return data


def _both(
    config: Config, window: timedelta, services: list[str] | None = None
) -> tuple[ErrorsView, ErrorsView]:
    """The same window read through the Logging API and through Log Analytics."""
    with _paths(config) as (api_config, api_sources, analytics_config, sources):
        return (
            gather_errors(api_config, api_sources, window, services),
            gather_errors(analytics_config, sources, window, services),
        )


@contextmanager
def _paths(
    config: Config, cap: int | None = None
) -> Iterator[tuple[Config, Sources, Config, Sources]]:
    """(the API path's config and sources, Log Analytics' config and sources); with `cap`,
    the second's own API reads stop at that many entries."""
    api_config = replace(config, gcp=replace(config.gcp, log_analytics=None))
    analytics = (
        config
        if cap is None
        else replace(config, gcp=replace(config.gcp, log_read_max_entries=cap))
    )
    api_sources, sources = _sources(api_config), _sources(analytics)
    try:
        yield api_config, api_sources, analytics, sources
    finally:
        api_sources.close()
        sources.close()


def test_the_groups_are_the_api_paths_on_the_same_entries(
    analytics_world: tuple[Config, int],
) -> None:
    config, total = analytics_world
    api, analytics = _both(config, timedelta(days=7))
    assert api.how.startswith("Logging API:")
    assert analytics.how.startswith(f"Log Analytics ({VIEW}):")
    assert _groups(analytics) == _groups(api)
    # Both read everything but the two request-log entries, the system log's line below
    # WARNING and the audit log's entry.
    assert analytics.entries == api.entries == total - 4
    written = {("phase3-to-phase4-orchestrator",), ("Phase3_Processor",)}
    kinds = {
        g.exception_type: g
        for g in analytics.groups
        if g.services in written and g.exception_type != "ModuleNotFoundError"
    }
    # The reduction kept what ends a traceback: the header and frame cut off by a request
    # line are their own truncated event, and the KeyError after it is none; the indented
    # line after an ending line is no part of the ValueError.
    assert set(kinds) == {
        "(truncated traceback)",
        "ValueError",
        "RuntimeError",
        "OSError",
        "ZeroDivisionError",
        "TypeError",
        "LookupError",
    }
    assert "\n\n" not in kinds["LookupError"].sample
    assert "detail that belongs to nothing" not in kinds["ValueError"].sample
    assert "em space" in kinds["RuntimeError"].sample
    assert "\n\n" in kinds["TypeError"].sample  # the entry without a payload: a blank line
    # Most lines stayed in BigQuery.
    read_back = int(analytics.how.split(" traceback lines")[0].rsplit(", ", 1)[1].replace(",", ""))
    assert read_back < analytics.entries / 2


def test_a_service_filter_and_an_unknown_name_match_the_api_path(
    analytics_world: tuple[Config, int],
) -> None:
    config, _ = analytics_world
    api, analytics = _both(config, timedelta(days=7), ["phase3-to-phase4-orchestrator"])
    assert _groups(analytics) == _groups(api)
    assert analytics.groups and all(
        g.services == ("phase3-to-phase4-orchestrator",) for g in analytics.groups
    )
    from orchwatch.names import UnknownName

    sources = _sources(config)
    try:
        with pytest.raises(UnknownName, match="no-such-thing"):
            gather_errors(config, sources, timedelta(days=7), ["no-such-thing"])
    finally:
        sources.close()


def test_a_short_window_reads_the_api_and_the_output_says_which_path(
    analytics_world: tuple[Config, int],
) -> None:
    config, _ = analytics_world
    sources = _sources(config)
    try:
        short = gather_errors(config, sources, timedelta(hours=1))
        wide = gather_errors(config, sources, timedelta(days=2))
    finally:
        sources.close()
    assert short.how.startswith("Logging API:")
    text = errors_text(wide, UTC)
    assert f"read: Log Analytics ({VIEW}):" in text
    assert "scanned" in text and "billed" in text


def test_as_of_cuts_the_search_at_the_moment(analytics_world: tuple[Config, int]) -> None:
    """Before the hostile entries were written, none of their groups exists."""
    config, _ = analytics_world
    moment = T0 + timedelta(seconds=25)
    sources = read_as_of(_sources(config, moment))
    try:
        view = gather_errors(config, sources, timedelta(days=7))
    finally:
        sources.close()
    kinds = {g.exception_type for g in view.groups}
    assert "RuntimeError" in kinds and "OSError" not in kinds and "TypeError" not in kinds
    assert all(g.last_seen <= moment for g in view.groups)


def test_a_log_filter_keeps_the_api_path_and_says_why(
    analytics_world: tuple[Config, int],
) -> None:
    config, _ = analytics_world
    filtered = replace(config, gcp=replace(config.gcp, log_filter='severity>="DEFAULT"'))
    sources = _sources(filtered)
    try:
        assert sources.error_search is None
        view = gather_errors(filtered, sources, timedelta(days=7))
    finally:
        sources.close()
    assert "Log Analytics orchwatch-analytics.logs_linked._AllLogs not used" in view.how


def test_the_sql_pattern_lets_through_every_line_python_could_take(
    analytics_world: tuple[Config, int],
) -> None:
    """RE2 in BigQuery (the emulator's engine is RE2 too) against Python's `re`: every
    character Python calls whitespace, every printable ASCII character and a sample of
    the rest, at the start of a line and after an exception's name."""
    config, _ = analytics_world
    plain = {"processing game 1 done", "GET /x 200", '{"a": 1}', "2026-01-01 started"}
    samples: set[str] = {"", "Traceback (most recent call last):", "ValueError", "a.b.C: x"}
    samples |= plain
    chars = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    chars += [chr(c) for c in range(32, 127)] + [chr(c) for c in range(0x80, 0x3100, 7)]
    for char in chars:
        samples |= {char, f"{char}x", f"Error{char}", f"Error{char}: m", f"E{char}rror: m"}
    samples = {s for s in samples if "\n" not in s}
    sources = _sources(config)
    try:
        client = sources.completions.bigquery.clients.bigquery()  # type: ignore[attr-defined]
        job = client.query(
            f"SELECT t FROM UNNEST(@texts) AS t WHERE NOT REGEXP_CONTAINS(t, r'{ONE_LINE}')",
            job_config=bigquery.QueryJobConfig(
                query_parameters=[bigquery.ArrayQueryParameter("texts", "STRING", sorted(samples))]
            ),
        )
        refused = {row["t"] for row in job.result(timeout=60)}
    finally:
        sources.close()
    assert plain <= refused, "ordinary log lines stay in BigQuery"
    assert not {t for t in refused if in_traceback(t)}


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ('dataset = "logs"', "gcp.log_analytics.dataset", 'expected "project.dataset"'),
        (
            'dataset = "p-roj1.logs"\nview = "a view"',
            "gcp.log_analytics.view",
            "expected a log view's id",
        ),
        (
            'dataset = "proj-1.logs"\nfrom_window = "soon"',
            "gcp.log_analytics.from_window",
            "expected a duration",
        ),
    ],
)
def test_a_bad_log_analytics_table_names_its_key(table: str, key: str, expected: str) -> None:
    assert_config_error(f"{MINIMAL}[gcp.log_analytics]\n{table}\n", key, expected)


def test_the_walkthrough_searches_a_wide_date_and_reads_the_same_groups(
    analytics_world: tuple[Config, int],
) -> None:
    """The walkthrough reads its date's groups from an hour before the date to now: a wide
    window, searched in Log Analytics, with the groups and the coverage of the whole API
    read, even where the API's own read would stop at 500 entries."""
    config, _ = analytics_world
    day = DEMO_START.astimezone(config.timezone).date()
    with _paths(config, cap=500) as (api_config, api_sources, capped, sources):
        api = gather_daily(api_config, api_sources, day, validation=lambda: (0, 0, []))
        searched = gather_daily(capped, sources, day, validation=lambda: (0, 0, []))
    assert searched.error_groups.value is not None
    assert searched.error_groups.value == api.error_groups.value
    assert searched.logs_cover_from == api.logs_cover_from is not None


def test_explain_searches_a_wide_date_and_offers_the_same_rollbacks(
    analytics_world: tuple[Config, int],
) -> None:
    """Explain reads its date's groups like the walkthrough, and a rollback's evidence (the
    window's exits) through the evidence-only read: the same chain inputs as the API."""
    config, _ = analytics_world
    day = DEMO_START.astimezone(config.timezone).date()
    with _paths(config, cap=500) as (api_config, api_sources, capped, sources):
        api = gather_explain(api_config, api_sources, day)
        searched = gather_explain(capped, sources, day)
    assert searched.groups.value == api.groups.value
    assert searched.rollbacks and searched.rollbacks == api.rollbacks
