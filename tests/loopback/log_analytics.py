"""A Log Analytics view on the BigQuery emulator: a table of the `_AllLogs` schema holding
the same entries the local Logging server serves.

The schema is Google's for a log view queried through a linked dataset (the columns
orchwatch reads; the others, such as `http_request` and `trace`, are left out): the
resource's and the entry's labels and the JSON payload are JSON columns, `log_id` is the
log's name decoded, `severity` is the level's name and `severity_number` its number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from google.cloud import bigquery
from google.cloud.logging_v2.types import LogEntry as LogEntryProto
from google.logging.type import log_severity_pb2

SCHEMA = [
    bigquery.SchemaField("timestamp", "TIMESTAMP"),
    bigquery.SchemaField("receive_timestamp", "TIMESTAMP"),
    bigquery.SchemaField("log_name", "STRING"),
    bigquery.SchemaField("log_id", "STRING"),
    bigquery.SchemaField(
        "resource",
        "RECORD",
        fields=[bigquery.SchemaField("type", "STRING"), bigquery.SchemaField("labels", "JSON")],
    ),
    bigquery.SchemaField("text_payload", "STRING"),
    bigquery.SchemaField("json_payload", "JSON"),
    bigquery.SchemaField("severity", "STRING"),
    bigquery.SchemaField("severity_number", "INTEGER"),
    bigquery.SchemaField("labels", "JSON"),
    bigquery.SchemaField("insert_id", "STRING"),
]


def analytics_row(entry: LogEntryProto) -> dict[str, Any]:
    """One Logging API entry as its row of the view (JSON columns as JSON text, as the
    streaming API takes them)."""
    stamp = entry.timestamp.isoformat().replace("+00:00", "Z")
    severity = int(entry.severity)
    payload = type(entry).to_dict(entry).get("json_payload") if "json_payload" in entry else None
    return {
        "timestamp": stamp,
        "receive_timestamp": stamp,
        "log_name": entry.log_name,
        "log_id": unquote(entry.log_name.split("/logs/", 1)[1]),
        "resource": {
            "type": entry.resource.type,
            "labels": json.dumps(dict(entry.resource.labels)),
        },
        "text_payload": entry.text_payload if "text_payload" in entry else None,
        "json_payload": json.dumps(payload) if payload is not None else None,
        # An entry written without a level has none here (DEFAULT is level 0).
        "severity": log_severity_pb2.LogSeverity.Name(severity) if severity else None,
        "severity_number": severity or None,
        "labels": json.dumps(dict(entry.labels)) if entry.labels else None,
        "insert_id": entry.insert_id,
    }


def seed_view(
    client: bigquery.Client, table: str, entries: Sequence[LogEntryProto], chunk: int = 5000
) -> int:
    """Create `table` (`project.dataset.view`) and stream the entries in; returns how many."""
    project, dataset, _ = table.split(".")
    client.create_dataset(f"{project}.{dataset}", exists_ok=True)
    created = client.create_table(bigquery.Table(table, schema=SCHEMA), exists_ok=True)
    for start in range(0, len(entries), chunk):
        rows = [analytics_row(e) for e in entries[start : start + chunk]]
        errors = client.insert_rows_json(created, rows, retry=None)
        if errors:
            raise RuntimeError(f"BigQuery emulator refused rows of {table}: {errors[:3]}")
    return len(entries)
