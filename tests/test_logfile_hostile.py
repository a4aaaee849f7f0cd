"""`orchwatch errors --from-file` on hostile and broken input: every record is judged on its
own, and nothing in a record stops the verb (issue: one bad record dropped a whole file)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from orchwatch.cli import main
from orchwatch.sources.logfile import MAX_TEXT, parse_log_text, read_log_file

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/workspace/main.py", line 12, in handler\n'
    "    import shared.validation\n"
    "ModuleNotFoundError: No module named 'shared.validation.phase3_data_quality_check'"
)


def record(n: int, **override: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "insertId": f"id{n:06d}",
        "timestamp": f"2026-02-01T12:{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}Z",
        "severity": "ERROR",
        "textPayload": TRACEBACK,
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": "svc"}},
    }
    entry.update(override)
    return entry


def gcloud_array(records: list[dict[str, Any]]) -> str:
    """As `gcloud logging read --format=json` prints: an indented JSON array."""
    return json.dumps(records, indent=2)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"severity": None}, "a field of the wrong type"),
        ({"timestamp": 1769947200}, "a field of the wrong type"),
        ({"timestamp": "0001-01-01T00:00:00Z"}, "a timestamp out of range"),
        ({"timestamp": "9999-12-31T23:59:59Z"}, "a timestamp out of range"),
        ({"timestamp": "yesterday"}, "no valid timestamp"),
        ({"resource": "not an object"}, "a field of the wrong type"),
    ],
)
def test_one_bad_record_costs_only_itself(bad: dict[str, Any], reason: str) -> None:
    records = [record(n) for n in range(1000)]
    records[500] = record(500, **bad)
    for text in (gcloud_array(records), "\n".join(json.dumps(r) for r in records)):
        log = parse_log_text(text)
        assert len(log.entries) == 999
        assert list(log.skipped_by_reason) == [reason] or next(
            iter(log.skipped_by_reason)
        ).startswith(reason)


def test_deep_nesting_and_a_huge_message_do_not_stop_the_verb(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    long = record(2, textPayload=TRACEBACK + " " + "x" * 1_000_000)  # kept, its text cut
    huge = record(3, textPayload="y" * 5_000_000)  # over the record cap: skipped, counted
    deep = (
        '{"timestamp": "2026-02-01T12:00:00Z", "jsonPayload": '
        + "[" * 100_000
        + "]" * 100_000
        + "}"
    )
    path = tmp_path / "hostile.jsonl"
    lines = [json.dumps(record(1)), deep, json.dumps(long), json.dumps(huge), "\x00\xff garbage"]
    path.write_text("\n".join(lines))
    assert main(["errors", "--from-file", str(path), "--since", "3650d", "--samples"]) == 0
    out = capsys.readouterr().out
    assert "ModuleNotFoundError" in out
    assert max(len(line) for line in out.splitlines()) < 5000  # no 5 MB line on the terminal
    log = read_log_file(str(path))
    assert len(log.entries) == 2
    assert max(len(e.text) for e in log.entries) <= MAX_TEXT + 40
    assert log.skipped == 3
    assert log.skipped_by_reason.get("larger than 4 MiB") == 1


def test_a_stream_of_zeros_is_one_oversized_record() -> None:
    zeros = bytes(10 * 1024 * 1024)  # like /dev/zero for a while: no record boundary at all
    from orchwatch.sources.logfile import read_log_stream

    stream = io.BytesIO(zeros)
    log = read_log_stream(stream.read)
    assert log.entries == []
    # read to the end in bounded memory; no boundary in it, so it is one record, skipped once
    assert log.skipped_by_reason == {"larger than 4 MiB": 1} and stream.tell() == len(zeros)


def test_the_text_summary_counts_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [record(n) for n in range(10)]
    records[3] = record(3, severity=None)
    path = tmp_path / "gcloud.json"
    path.write_text(gcloud_array(records))
    assert main(["errors", "--from-file", str(path), "--since", "3650d"]) == 0
    out = capsys.readouterr().out
    assert "1 group from 9 entries, 1 malformed record skipped" in out


# --- any layout, read with bounded memory: the second hardening pass ------------------------

TRICKY = [
    record(0),
    record(1, textPayload='a payload with }, { and },{ and "},{" inside its string'),
    record(2, jsonPayload={"message": "nested", "items": [{"a": 1}, {"b": [2, {"c": 3}]}]}),
    record(3, textPayload='"},{\\'),  # a quote and a backslash, escaped in the JSON
    *(record(n) for n in range(4, 40)),
]

LAYOUTS = {
    "gcloud (indent 2)": lambda rs: json.dumps(rs, indent=2),
    "one line, compact": lambda rs: json.dumps(rs, separators=(",", ":")),
    "one line, spaced": lambda rs: json.dumps(rs),
    "indent 4": lambda rs: json.dumps(rs, indent=4),
    "json lines": lambda rs: "\n".join(json.dumps(r) for r in rs),
}


def _read(text: bytes, block: int, monkeypatch: pytest.MonkeyPatch) -> Any:
    from orchwatch.sources import logfile

    monkeypatch.setattr(logfile, "_BLOCK", block)
    return logfile.read_log_stream(io.BytesIO(text).read)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("block", [7, 64, 331, 1 << 20])
def test_every_layout_reads_the_same_entries_at_any_block_size(
    layout: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = parse_log_text(gcloud_array(TRICKY)).entries
    assert len(expected) == len(TRICKY)
    log = _read(LAYOUTS[layout](TRICKY).encode(), block, monkeypatch)
    assert log.skipped_by_reason == {}
    assert log.entries == expected


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_a_byte_order_mark_and_leading_whitespace_lose_nothing(
    layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = b"\xef\xbb\xbf" + b" \n\t" * 500 + LAYOUTS[layout](TRICKY).encode()
    log = _read(text, 64, monkeypatch)
    assert log.skipped == 0 and len(log.entries) == len(TRICKY)


@pytest.mark.parametrize("layout", ["one line, compact", "one line, spaced", "indent 4"])
def test_one_bad_record_in_a_one_line_array_costs_only_itself(
    layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = LAYOUTS[layout](TRICKY)
    broken = text.replace('"insertId": "id000020"', '"insertId": id000020').replace(
        '"insertId":"id000020"', '"insertId":id000020'
    )
    assert broken != text
    log = _read(broken.encode(), 331, monkeypatch)
    assert log.skipped == 1 and len(log.entries) == len(TRICKY) - 1


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_an_oversized_record_is_one_skip_and_the_next_is_read(
    layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchwatch.sources.logfile import MAX_RECORD_BYTES

    records = [record(0), record(1, textPayload="x" * (MAX_RECORD_BYTES + 1000)), record(2)]
    log = _read(LAYOUTS[layout](records).encode(), 1 << 16, monkeypatch)
    assert log.skipped_by_reason == {"larger than 4 MiB": 1}
    assert [e.insert_id for e in log.entries] == ["id000000", "id000002"]


def test_whitespace_alone_is_no_entries() -> None:
    log = parse_log_text(" \n" * 3_000_000)
    assert log.entries == [] and log.skipped == 0


@pytest.mark.parametrize("block", [7, 331, 1 << 20])
def test_a_one_line_array_then_other_lines_reads_both(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = json.dumps(TRICKY[:5]) + "\n\xff not json\n" + json.dumps(record(99)) + "\n"
    log = _read(text.encode("utf-8", "surrogateescape"), block, monkeypatch)
    assert [e.insert_id for e in log.entries] == [*(f"id{n:06d}" for n in range(5)), "id000099"]
    assert log.skipped == 1
