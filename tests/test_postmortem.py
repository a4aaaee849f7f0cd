"""`orchwatch postmortem` from a recording alone: each change of the walkthrough's checks
is the change the live demo showed at that moment; the chains of what was red; the
actions the recorder found; the outages it met."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_recording import HOUR, record_an_outage

from orchwatch.analysis.daily import evaluate
from orchwatch.cli import main
from orchwatch.clock import FrozenClock
from orchwatch.config import Config, RecordSettings
from orchwatch.gather import gather_daily
from orchwatch.postmortem import build, postmortem_json, postmortem_lines
from orchwatch.recorder import Recorder
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources
from orchwatch.sources.history import Recording

POLL = timedelta(minutes=5)
MOMENTS = [DEMO_START + POLL * (n + 1) for n in range(30)]


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory, config: Config) -> Path:
    """Two and a half hours of the demo, an action run (in the audit log) in the middle."""
    folder = tmp_path_factory.mktemp("postmortem")
    out, audit = folder / "incident.db", folder / "audit.jsonl"
    clock = FrozenClock(MOMENTS[0] - POLL)
    sources = build_sources(SourceOptions(demo=True), config, clock=clock)
    recording = Recording(out, write=True)
    try:
        recorder = Recorder(config, sources, recording, RecordSettings(interval=POLL), audit)
        for i, moment in enumerate(MOMENTS):
            clock.advance(moment - clock.now())
            if i == 12:
                audit.write_text(
                    json.dumps(
                        {
                            "event": "started",
                            "id": "r1",
                            "time": moment.isoformat(),
                            "user": "oncall",
                            "host": "laptop",
                            "action": "rollback",
                            "service": "phase5-to-phase6-orchestrator",
                            "command": ["gcloud", "run", "services", "update-traffic"],
                        }
                    )
                    + "\n"
                )
            recorder.poll()
    finally:
        recording.close()
        sources.close()
    return out


def live_statuses(config: Config, moment: datetime) -> dict[tuple[str, str], str]:
    """The walkthrough of the live demo at `moment`, per (date, check)."""
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(moment))
    try:
        found = {}
        for day in (moment.date() - timedelta(days=1), moment.date()):
            for result in evaluate(gather_daily(config, sources, day), config.timezone):
                found[(day.isoformat(), result.id)] = result.status.value
        return found
    finally:
        sources.close()


@pytest.fixture(scope="module")
def live_changes(config: Config) -> list[tuple[str, ...]]:
    """Each change of status the live demo's walkthrough showed across `MOMENTS`."""
    expected = []
    before: dict[tuple[str, str], str] = {}
    for moment in MOMENTS:
        now = live_statuses(config, moment)
        for key, status in now.items():
            was = before.get(key)
            if was != status and (was is not None or status == "fail"):
                expected.append((moment.isoformat(), *key, was, status))
        before = now
    return expected


def test_each_change_is_the_change_the_live_demo_showed(
    incident: Path, config: Config, live_changes: list[tuple[str, ...]]
) -> None:
    report = postmortem_json(build(config, incident, MOMENTS[0], MOMENTS[-1]))
    assert report["moments"] == len(MOMENTS) and report["judged"] == len(MOMENTS)
    changes = [(c["at"], c["date"], c["check"], c["before"], c["after"]) for c in report["changes"]]
    assert changes == live_changes
    assert any(c[3] == "fail" and c[4] == "pass" for c in changes)  # a recovery is in it
    chains = {(c["subject"], c["date"]) for c in report["chains"]}
    assert ("phase3", "2026-01-31") in chains
    chain = next(c for c in report["chains"] if c["subject"] == "phase3")
    assert "ModuleNotFoundError" in json.dumps(chain["explanation"])
    assert [a["action"] for a in report["actions"]] == ["rollback"]
    assert report["outages"] == []


def test_a_long_window_is_sampled_and_halved_down_to_each_change(
    incident: Path,
    config: Config,
    live_changes: list[tuple[str, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A window of more moments than `SAMPLES` is judged at samples across it and, between
    two that differ, by halves: the changes are still the live demo's, each at the moment
    it happened, from fewer judgments; and the report says how far apart the samples are."""
    import orchwatch.postmortem

    monkeypatch.setattr(orchwatch.postmortem, "SAMPLES", 4)
    built = build(config, incident, MOMENTS[0], MOMENTS[-1])
    report = postmortem_json(built)
    assert report["judged_every"] == 8
    assert report["judged"] < len(MOMENTS)
    changes = [(c["at"], c["date"], c["check"], c["before"], c["after"]) for c in report["changes"]]
    assert changes == live_changes
    text = "\n".join(postmortem_lines(built, config, markdown=True))
    assert "one in 8 across the window, 40 min apart" in text
    assert "a status that came and went between two of those, within 40 min, is not seen" in text


def test_the_markdown_says_what_was_done_and_a_bad_window_is_exit_2(
    incident: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--from", "2026-02-01T11:30", "--to", "2026-02-01T14:00"]
    assert main(["postmortem", "--source", str(incident), *window]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Postmortem: nba-props-platform")
    for heading in ("## What the walkthrough said", "## Why: the chains of what was red"):
        assert heading in out
    assert "oncall@laptop · rollback phase5-to-phase6-orchestrator" in out
    assert "not finished in the window" in out
    assert (
        main(
            [
                "postmortem",
                "--source",
                str(incident),
                "--from",
                "2026-03-01T00:00",
                "--to",
                "2026-03-02T00:00",
            ]
        )
        == 2
    )
    assert "no moment recorded" in capsys.readouterr().err
    assert (
        main(
            [
                "postmortem",
                "--source",
                str(incident),
                "--from",
                "2026-02-01T12:00",
                "--to",
                "2026-02-01T11:00",
            ]
        )
        == 2
    )
    assert "must be after --from" in capsys.readouterr().err


def test_a_snapshot_is_not_a_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = tmp_path / "s.db"
    assert main(["snapshot", "--demo", "--as-of", "2026-02-01T11:30", "-o", str(snapshot)]) == 0
    capsys.readouterr()
    code = main(
        [
            "postmortem",
            "--source",
            str(snapshot),
            "--from",
            "2026-02-01T11:00",
            "--to",
            "2026-02-01T12:00",
        ]
    )
    assert code == 2 and "not a recording" in capsys.readouterr().err


def test_the_outages_are_said(tmp_path: Path, config: Config) -> None:
    out = tmp_path / "outage.db"
    record_an_outage(config, out)  # its polls: HOUR[0], then 2 minutes apart
    report = postmortem_json(build(config, out, HOUR[0], HOUR[2]))
    assert report["outages"] == [
        {
            "at": HOUR[1].isoformat(),
            "source": "revisions",
            "reason": "Cloud Run: 503 the service is unavailable",
        }
    ]
