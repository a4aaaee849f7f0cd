"""The runbook's phase 6 export health (0.97): each configured file in Cloud Storage
exists once due (missing is critical; blocked when the last phase is), and a file with a
maximum age is no older during its active hours (stale warns). Read with the official
`google-cloud-storage` client from a local server that speaks the JSON API's
`objects.get`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import Loopback
from gcp_helpers import Seeded, gcp_sources, walkthrough_check

from orchwatch.analysis.daily import CheckResult, Fetched, evaluate
from orchwatch.clock import FrozenClock
from orchwatch.config import Config, ExportSpec
from orchwatch.gather import gather_daily
from orchwatch.model import StoredObject
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START

DAY = date(2026, 1, 30)
BUCKET = "nba-props-platform-api"
PICKS = ExportSpec("picks", BUCKET, "v1/picks/{date}.json", due_after=timedelta(hours=30))
PERFORMANCE = ExportSpec(
    "subset performance",
    BUCKET,
    "v1/subsets/performance.json",
    max_age=timedelta(hours=3),
    active=(timedelta(hours=6), timedelta(hours=23)),
)


def judged(
    config: Config, demo: Sources, now: datetime, objects: Fetched[list[StoredObject]] | None
) -> CheckResult:
    inputs = replace(
        gather_daily(config, demo, DAY, validation=lambda: (0, 0, [])),
        now=now,
        export_specs=(PICKS, PERFORMANCE),
        exports=objects,
    )
    [result] = [r for r in evaluate(inputs, config.timezone) if r.id == "exports"]
    return result


def obj(name: str, updated: datetime) -> StoredObject:
    return StoredObject(BUCKET, name, updated, 100)


NOON = datetime(2026, 1, 31, 17, 0, tzinfo=UTC)  # 12:00 New York, the day after DAY


def test_present_and_fresh_passes_missing_fails_stale_warns(config: Config, demo: Sources) -> None:
    picks = obj("v1/picks/2026-01-30.json", NOON - timedelta(hours=10))
    fresh = obj("v1/subsets/performance.json", NOON - timedelta(hours=1))
    stale = replace(fresh, updated=NOON - timedelta(hours=5))
    ok = judged(config, demo, NOON, Fetched([picks, fresh]))
    assert (ok.status.value, ok.evidence) == (
        "pass",
        "2 files present and fresh (picks, subset performance)",
    )
    warned = judged(config, demo, NOON, Fetched([picks, stale]))
    assert warned.status.value == "warn"
    assert warned.evidence == (
        "stale: subset performance 5.0 h old (more than 3 h; "
        f"gs://{BUCKET}/v1/subsets/performance.json)"
    )
    missing = judged(config, demo, NOON, Fetched([fresh]))
    assert missing.status.value == "fail"
    assert missing.evidence == f"missing: picks (gs://{BUCKET}/v1/picks/2026-01-30.json)"
    assert "phase5-to-phase6" in missing.next_step


def test_before_its_due_time_a_missing_file_is_not_due_and_night_is_not_stale(
    config: Config, demo: Sources
) -> None:
    evening = datetime(2026, 1, 31, 3, 0, tzinfo=UTC)  # 22:00 New York on DAY
    night = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)  # 04:00 New York: outside active hours
    old = obj("v1/subsets/performance.json", evening - timedelta(hours=6))
    waiting = judged(config, demo, evening, Fetched([replace(old, updated=evening)]))
    assert waiting.status.value == "pass"
    assert "not due yet: picks" in waiting.evidence
    assert judged(config, demo, evening, Fetched([old])).status.value == "warn"  # active
    asleep = judged(
        config, demo, night, Fetched([replace(old, updated=night - timedelta(hours=6))])
    )
    assert asleep.status.value == "pass"  # 04:00: not judged stale, picks not due yet
    assert judged(config, demo, night, Fetched([])).status.value == "fail"  # performance gone


def test_unread_is_unknown_and_a_snapshot_skips(config: Config, demo: Sources) -> None:
    denied = judged(config, demo, NOON, Fetched(None, "Cloud Storage: permission denied"))
    assert denied.status.value == "unknown" and "permission denied" in denied.evidence
    assert judged(config, demo, NOON, None).status.value == "skipped"


def test_the_demo_blocks_its_missing_exports_on_the_incident(config: Config, demo: Sources) -> None:
    """On 01-31 phase 3 never triggered phase 4: no predictions, so no picks. The exports
    are blocked by that failure, not a failure of their own."""
    [result] = [
        r
        for r in evaluate(
            gather_daily(config, demo, date(2026, 1, 31), validation=lambda: (0, 0, [])),
            config.timezone,
        )
        if r.id == "exports"
    ]
    assert result.status.value == "blocked"
    assert result.evidence.startswith("blocked: phase3 never triggered phase4 · missing: picks")


def test_the_local_server_answers_as_the_demo_and_a_removed_file_fails(
    loopback: Loopback, world: tuple[Config, Sources, Sources, Seeded]
) -> None:
    config, demo, gcp, _ = world
    wanted = [(e.bucket, e.object_name(DAY)) for e in config.daily_exports]
    before = loopback.storage.calls["objects.get"]
    assert gcp.exports.fetch_objects(wanted) == demo.exports.fetch_objects(wanted)  # type: ignore[union-attr]
    assert loopback.storage.calls["objects.get"] - before == len(wanted)
    healthy = walkthrough_check(config, gcp, DAY, "exports")
    key = (BUCKET, "v1/signals/2026-01-30.json")
    kept = loopback.storage.objects.pop(key)
    fresh = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    try:
        removed = walkthrough_check(config, fresh, DAY, "exports")
        loopback.storage.deny = {BUCKET}
        denied = walkthrough_check(config, fresh, DAY, "exports")
    finally:
        loopback.storage.objects[key] = kept
        loopback.storage.deny = set()
        fresh.close()
    assert healthy.status.value == "pass"
    assert healthy.evidence == walkthrough_check(config, demo, DAY, "exports").evidence
    assert removed.status.value == "fail"
    assert removed.evidence == f"missing: signals (gs://{BUCKET}/v1/signals/2026-01-30.json)"
    assert denied.status.value == "unknown"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("bucket", '"Not_A_Bucket"', "daily.exports[0].bucket`: expected a bucket name"),
        ("object", '"v1/{day}.json"', "daily.exports[0].object`: expected an object name"),
        (
            "active_hours",
            '["06:00"]',
            'daily.exports[0].active_hours`: expected ["HH:MM", "HH:MM"]',
        ),
    ],
)
def test_a_bad_export_names_its_key(
    tmp_path: object, field: str, value: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    from orchwatch.cli import main
    from orchwatch.config import EXAMPLE_CONFIG

    text = EXAMPLE_CONFIG.read_text()
    first = text.index("[[daily.exports]]")
    end = text.index("\n\n", first)
    block = text[first:end] + f"\n{field} = {value}"
    if field != "active_hours":
        block = (
            "\n".join(line for line in block.splitlines() if not line.startswith(f"{field} ="))
            + f"\n{field} = {value}"
        )
    path = Path(str(tmp_path)) / "orchwatch.toml"
    path.write_text(text[:first] + block + text[end:])
    assert main(["--config", str(path), "daily", "--demo"]) == 2
    assert says in capsys.readouterr().err


NEW_CHECKS = {
    "exports": "exports in Cloud Storage (phase 6)",
    "cloud_build": "Cloud Build triggers",
    "scheduler_iam": "scheduler targets may be invoked (IAM)",
    "scheduler": "Cloud Scheduler jobs",
}


def test_the_platform_checks_reach_every_output_with_their_fix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """On 01-31 of the demo the exports are blocked and the rest pass: each says so in
    JSON (with its next step), markdown, text and the TUI's checklist."""
    import json

    from orchwatch.cli import main

    day = ["daily", "--demo", "--as-of", "2026-02-01T11:30", "--date", "2026-01-31"]
    main([*day, "--format", "json"])
    checks = {c["id"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    main([*day, "--format", "markdown"])
    markdown = capsys.readouterr().out
    main(day)
    text = capsys.readouterr().out
    for check_id, title in NEW_CHECKS.items():
        said = checks[check_id]
        assert said["title"] == title and said["evidence"] and said["next_step"]
        assert f"| {title} | {said['evidence']} |" in markdown
        assert title in text and said["evidence"][:60] in text
    assert checks["exports"]["status"] == "blocked"


async def test_the_platform_checks_are_rows_of_the_checklist(config: Config, demo: Sources) -> None:
    from tui_helpers import SIZE, make_app, settle, wait_for

    from orchwatch.tui.screens.daily import DailyScreen

    app = make_app(config, demo)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        assert await wait_for(
            pilot, lambda: isinstance(app.screen, DailyScreen) and bool(app.screen.results)
        )
        table = app.screen.query_one("#daily-table")
        rows = [
            " ".join(table.get_row_at(i)[1].plain.split())  # type: ignore[attr-defined]
            for i in range(table.row_count)  # type: ignore[attr-defined]
        ]  # a long title wraps in its cell
    for title in NEW_CHECKS.values():
        assert title in rows


def test_a_dated_file_is_not_expected_on_an_off_day(config: Config, demo: Sources) -> None:
    """`off_days = "skip"`: on a date the game calendar says has no games, a missing dated
    file is expected; a calendar that cannot be read leaves it unknown, never a pass."""
    skip = replace(PICKS, skip_off_days=True)
    fresh = obj("v1/subsets/performance.json", NOON - timedelta(hours=1))

    def with_games(games: Fetched[float | None]) -> CheckResult:
        inputs = replace(
            gather_daily(config, demo, DAY, validation=lambda: (0, 0, [])),
            now=NOON,
            export_specs=(skip, PERFORMANCE),
            exports=Fetched([fresh]),
            games=games,
        )
        [result] = [r for r in evaluate(inputs, config.timezone) if r.id == "exports"]
        return result

    off = with_games(Fetched(0.0))
    assert (off.status.value, off.evidence) == (
        "pass",
        "1 file present and fresh (subset performance); off day, not expected: picks",
    )
    assert with_games(Fetched(3.0)).status.value == "fail"
    unread = with_games(Fetched(None, "no such table: nba_schedule"))
    assert unread.status.value == "unknown" and "no such table" in unread.evidence
