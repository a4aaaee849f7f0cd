"""`orchwatch errors`: the demo, a gcloud file, stdin, JSON schema."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from test_tracebacks import SIMPLE, gcloud_entry

from orchwatch.cli import main


def test_demo_groups_the_crash_loop_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["errors", "--demo", "--since", "2h"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("ModuleNotFoundError ×")
    assert "phase3-to-phase4-orchestrator" in out[0]
    assert out[1].strip() == "No module named 'shared.validation.phase3_data_quality_check'"
    assert any(line.startswith("ExceptionGroup ×") for line in out)
    assert any(line.startswith("RuntimeError ×") for line in out)  # the chained one


def test_from_file_json_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [
        gcloud_entry(line, n, instance=inst)
        for inst in ("a", "b")
        for n, line in enumerate(SIMPLE.splitlines())
    ]
    path = tmp_path / "logs.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    assert main(["errors", "--from-file", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["version"] == 1
    [group] = document["groups"]
    assert set(group) >= {
        "fingerprint",
        "exception_type",
        "message",
        "count",
        "first_seen",
        "last_seen",
        "services",
        "revisions",
        "sample",
    }
    assert (group["exception_type"], group["count"], group["services"]) == (
        "ModuleNotFoundError",
        2,
        ["svc"],
    )
    assert group["sample"] == SIMPLE


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    lines = "\n".join(
        json.dumps(gcloud_entry(line, n)) for n, line in enumerate(SIMPLE.splitlines())
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines.encode())))
    assert main(["errors", "--from-file", "-"]) == 0
    assert capsys.readouterr().out.startswith("ModuleNotFoundError ×1")


def test_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["errors", "--from-file", str(tmp_path / "nope.json")]) == 2
    assert "No such file" in capsys.readouterr().err
