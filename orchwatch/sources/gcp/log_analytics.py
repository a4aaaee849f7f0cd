"""Log Analytics: the traceback grouping of a wide window, pushed down to BigQuery.

A log bucket upgraded to Log Analytics can be linked to a BigQuery dataset; its
log views are then tables of the `_AllLogs` schema (`timestamp`, `resource`
with `labels` as JSON, `text_payload`, `json_payload` as JSON, `severity`,
`severity_number`, `labels`, `insert_id`, `log_id`). A week of a busy project is
millions of entries, which the Logging API pages 1,000 a call; here one query
scans them all in BigQuery and returns only what the reassembly can use:

- every entry that may be a line of a traceback, judged in SQL by a regular
  expression that accepts a superset of what `tracebacks.in_traceback` accepts
  (RE2 in BigQuery; Python decides again on the rows that come back);
- for every other one-line entry, only its effect: it ends whatever traceback
  its instance (service, revision, instance) had open. A running count of those
  entries per instance, in the API's order (timestamp, insert id), travels with
  each returned row, and where the count changes between two returned rows of an
  instance the reassembly is given a segment end (`SEGMENT_END`) between them;
- multi-line entries that cannot hold a traceback start, which touch no
  instance's state, are dropped outright;
- one row per service with its count and earliest timestamp: the entries the
  window held and how far back it reached.

The reassembly and the fingerprints then run in Python on the reduced lines,
exactly as on the API's entries, so both paths give the same groups on the same
entries (`tests/test_log_analytics.py` compares them on the local servers).
The query goes through `BigQueryTables`: dry run, the `maximum_bytes_billed` cap,
the deadline and the cancel.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from orchwatch.config import LogAnalytics
from orchwatch.model import SEGMENT_END, LogLine
from orchwatch.sources.base import ErrorLines
from orchwatch.sources.gcp.bigquery import BigQueryTables, format_bytes
from orchwatch.sources.logfile import payload_text

ONE_LINE = (
    r"^(?:[\s\pZ\x{0b}\x{1c}-\x{1f}\x{85}|+>]|$|[A-Za-z_][^:\s]*(?::|\s*$)"
    r"|Traceback \(most recent call last\):"
    r"|During handling of the above exception, another exception occurred:"
    r"|The above exception was the direct cause of the following exception:)"
)
"""A one-line entry that may be a line of a traceback (`in_traceback`), as RE2 says it: an
indented, group or blank line (Python's `\\s` is Unicode's whitespace; RE2's is ASCII, so
the separators `\\pZ` and the other characters `str.isspace` accepts are named), a word at
the start followed by a colon or the end (an exception's last line; `[^:\\s]` takes every
character Python's `[\\w.]` does, and more), or a header or chain line. A superset: what
it lets through, Python judges again."""

MULTI_LINE = r"Traceback \(most recent call last\):|  File |\+ Exception Group Traceback"
"""A multi-line entry that may hold a traceback (one of its lines a start)."""

SQL = """
WITH scoped AS (
  SELECT
    timestamp,
    COALESCE(insert_id, '') AS insert_id,
    COALESCE(NULLIF(JSON_VALUE(resource.labels, '$.service_name'), ''),
             NULLIF(JSON_VALUE(resource.labels, '$.function_name'), ''), '') AS service,
    COALESCE(JSON_VALUE(resource.labels, '$.revision_name'), '') AS revision,
    COALESCE(NULLIF(JSON_VALUE(labels, '$.instanceId'), ''),
             NULLIF(JSON_VALUE(labels, '$.instance_id'), ''), '') AS instance,
    COALESCE(severity, 'DEFAULT') AS severity,
    NULLIF(text_payload, '') AS text_payload,
    json_payload,
    JSON_VALUE(json_payload, '$.message') AS message
  FROM `{table}`
  WHERE timestamp >= @since AND (@until IS NULL OR timestamp <= @until)
    AND {scope}
    AND NOT STARTS_WITH(COALESCE(log_id, ''), 'cloudaudit.googleapis.com/')
    {logs}
), judged AS (
  SELECT *,
    CASE
      WHEN text_payload IS NOT NULL THEN
        IF(STRPOS(text_payload, '\\n') > 0,
           REGEXP_CONTAINS(text_payload, r'{multi}'),
           REGEXP_CONTAINS(text_payload, r'{one}'))
      -- no payload, an empty or odd message, a falsy one (which falls back to the
      -- payload's textPayload) or a stack trace: Python decides
      WHEN json_payload IS NULL OR message IS NULL OR message = ''
        OR REGEXP_CONTAINS(message, r'^-?0')
        OR JSON_QUERY(json_payload, '$.stack_trace') IS NOT NULL
        OR JSON_QUERY(json_payload, '$.stackTrace') IS NOT NULL THEN TRUE
      ELSE IF(STRPOS(message, '\\n') > 0,
              REGEXP_CONTAINS(message, r'{multi}'),
              REGEXP_CONTAINS(message, r'{one}'))
    END AS candidate,
    STRPOS(COALESCE(text_payload, message, ''), '\\n') = 0 AS one_line
  FROM scoped
), counted AS (
  SELECT *,
    SUM(IF(NOT candidate AND one_line, 1, 0)) OVER (
      PARTITION BY service, revision, instance
      ORDER BY timestamp, insert_id
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS ended
  FROM judged
)
SELECT 'line' AS kind, timestamp, insert_id, service, revision, instance, severity,
  text_payload, TO_JSON_STRING(json_payload) AS payload, ended, 0 AS entries
FROM counted
WHERE candidate
UNION ALL
SELECT 'service' AS kind, MIN(timestamp), '', service, '', '', '', NULL, NULL, 0, COUNT(*)
FROM scoped
GROUP BY service
"""


def scope_sql(named: bool) -> str:
    """The resources `logs.build_filter` scopes to, in SQL: every Cloud Run revision and
    function, or with `named` those of `@run_names` and `@function_names`."""
    if not named:
        return "resource.type IN ('cloud_run_revision', 'cloud_function')"
    return (
        "((resource.type = 'cloud_run_revision' AND "
        "JSON_VALUE(resource.labels, '$.service_name') IN UNNEST(@run_names))"
        " OR (resource.type = 'cloud_function' AND "
        "JSON_VALUE(resource.labels, '$.function_name') IN UNNEST(@function_names)))"
    )


REQUEST_LOG = "run.googleapis.com/requests"
SYSTEM_LOG = "run.googleapis.com/varlog/system"
WARNING = 400
"""`LogSeverity.WARNING`'s number."""


def logs_sql(request_logs: bool) -> str:
    """The logs `logs.build_filter` leaves out unless asked: request logs, and the system
    log below WARNING (`log_id` is the log's name decoded). Audit logs are always left out
    (in `SQL`)."""
    if request_logs:
        return ""
    return (
        f"AND COALESCE(log_id, '') != '{REQUEST_LOG}'\n"
        f"    AND NOT (COALESCE(log_id, '') = '{SYSTEM_LOG}'"
        f" AND COALESCE(severity_number, 0) < {WARNING})"
    )


def build_sql(table: str, services: bool, request_logs: bool) -> str:
    """The query over `table` (`project.dataset.view`)."""
    return SQL.format(
        table=table,
        scope=scope_sql(services),
        logs=logs_sql(request_logs),
        one=ONE_LINE,
        multi=MULTI_LINE,
    )


def entry_text(text_payload: str | None, payload: str | None) -> str:
    """An entry's text as `logs.to_log_entry` makes it from the API's entry: the text
    payload, else the JSON payload's message and stack trace. Numbers are read as floats,
    as the API's `Struct` holds them."""
    if text_payload:
        return text_payload
    if not payload:
        return ""
    value = json.loads(payload, parse_int=float)
    return payload_text(value) if isinstance(value, dict) and value else ""


def reduced_lines(rows: Sequence[Any], aliases: Mapping[str, str]) -> ErrorLines:
    """The query's rows as lines in the API's order, a segment end placed wherever an
    instance's count of ended segments changes between two of its lines."""
    found: list[tuple[datetime, str, tuple[str, str, str], str, str, int]] = []
    entries = 0
    earliest: datetime | None = None
    services: set[str] = set()
    for row in rows:
        service = aliases.get(row["service"], row["service"])
        if row["kind"] == "service":
            entries += int(row["entries"])
            at = _utc(row["timestamp"])
            earliest = at if earliest is None or at < earliest else earliest
            if service:
                services.add(service)
            continue
        key = (service, row["revision"], row["instance"])
        text = entry_text(row["text_payload"], row["payload"])
        found.append(
            (_utc(row["timestamp"]), row["insert_id"], key, row["severity"], text, row["ended"])
        )
    found.sort(key=lambda line: (line[0], line[1]))
    lines: list[LogLine] = []
    ended: dict[tuple[str, str, str], int] = {}
    for at, insert_id, key, severity, text, count in found:
        if "\n" not in text:
            if key in ended and ended[key] != count:
                lines.append((at, insert_id, key, "DEFAULT", SEGMENT_END))
            ended[key] = count
        lines.append((at, insert_id, key, severity, text))
    return ErrorLines(lines, entries, earliest, frozenset(services), "")


class LogAnalyticsSearch:
    """The `ErrorSearch` over a Log Analytics view, through the BigQuery tables' client."""

    def __init__(
        self,
        settings: LogAnalytics,
        tables: BigQueryTables,
        services: Sequence[str],
        run_name: Callable[[str], str],
        aliases: Mapping[str, str],
        request_logs: bool,
    ) -> None:
        self.settings = settings
        self.tables = tables
        self.services = tuple(services)
        self.run_name = run_name
        self.aliases = dict(aliases)
        self.request_logs = request_logs

    @property
    def from_window(self) -> timedelta:
        """Windows at least this long are searched here."""
        return self.settings.from_window

    def search_errors(
        self, since: datetime, services: Sequence[str] | None, until: datetime | None = None
    ) -> ErrorLines:
        """The lines of the window since `since` (to `until`) that the grouping needs.

        Raises:
            SourceError: the query is refused, fails, or would bill more than the cap.
        """
        from google.cloud import bigquery

        names = tuple(services) if services else self.services
        run_names = [self.run_name(n) for n in names]
        parameters: list[Any] = [
            bigquery.ScalarQueryParameter("since", "TIMESTAMP", since),
            bigquery.ScalarQueryParameter("until", "TIMESTAMP", until),
        ]
        if names:
            functions = list(dict.fromkeys([*names, *run_names]))
            parameters += [
                bigquery.ArrayQueryParameter("run_names", "STRING", list(dict.fromkeys(run_names))),
                bigquery.ArrayQueryParameter("function_names", "STRING", functions),
            ]
        sql = build_sql(self.settings.table, bool(names), self.request_logs)
        rows, estimate, billed = self.tables.estimated_query(sql, parameters)
        found = reduced_lines(rows, self.aliases)
        kept = sum(1 for line in found.lines if line[4] != SEGMENT_END)
        how = (
            f"Log Analytics ({self.settings.table}): {found.entries:,} entries grouped in "
            f"BigQuery, {kept:,} traceback lines read back, {format_bytes(estimate)} scanned, "
            f"{format_bytes(billed)} billed"
        )
        return ErrorLines(found.lines, found.entries, found.earliest, found.services, how)


def _utc(value: object) -> datetime:
    if not isinstance(value, datetime):
        return datetime.min.replace(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
