"""`orchwatch record` and rewind: a recording of the demo, read at a moment, says what the
live demo said at that moment; an outage is recorded as one; retention keeps what the
moments kept need."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from orchwatch.cli import main
from orchwatch.clock import FrozenClock
from orchwatch.config import Config, RecordSettings
from orchwatch.model import LogEntry
from orchwatch.recorder import Recorder
from orchwatch.sources.base import SourceError, Sources
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources
from orchwatch.sources.history import Poll, Recording
from orchwatch.sources.recorded import Playhead

POLL = timedelta(minutes=2)
HOUR = [DEMO_START + POLL * (n + 1) for n in range(30)]
SAMPLED = sorted(random.Random(30).sample(HOUR, 10))

VERBS = (
    ("daily", "--format", "json", "--date", "2026-01-31"),
    ("daily", "--format", "json", "--date", "2026-02-01"),
    ("revisions", "--format", "json"),
    ("errors", "--format", "json", "--since", "1h"),
    ("explain", "--format", "json", "--date", "2026-01-31", "--phase", "phase3"),
)


def record_demo(
    config: Config,
    out: Path,
    moments: list[datetime],
    every: timedelta = POLL,
    prepare: Callable[[Sources], None] = lambda sources: None,
    **settings: object,
) -> None:
    """Record the demo at each of `moments` (a fast-forwarded clock: no waiting), polling
    `every`; `prepare` may wrap a source first."""
    clock = FrozenClock(moments[0] - every)
    sources = build_sources(SourceOptions(demo=True), config, clock=clock)
    prepare(sources)
    recording = Recording(out, write=True)
    try:
        recorder = Recorder(
            config,
            sources,
            recording,
            RecordSettings(interval=every, **settings),  # type: ignore[arg-type]
        )
        for moment in moments:
            clock.advance(moment - clock.now())
            recorder.poll()
    finally:
        recording.close()
        sources.close()


@pytest.fixture(scope="module")
def hour(tmp_path_factory: pytest.TempPathFactory, config: Config) -> Path:
    out = tmp_path_factory.mktemp("recording") / "hour.db"
    record_demo(config, out, HOUR)
    return out


def verb_output(
    capsys: pytest.CaptureFixture[str], source: list[str], verb: tuple[str, ...]
) -> object:
    code = main([verb[0], *source, *verb[1:]])
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return json.loads(out)


@pytest.mark.parametrize("moment", SAMPLED, ids=[f"{m:%H:%M}" for m in SAMPLED])
def test_a_recorded_moment_says_what_the_live_demo_said(
    moment: datetime, hour: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = moment.strftime("%Y-%m-%dT%H:%M:%S")
    for verb in VERBS:
        live = verb_output(capsys, ["--demo", "--as-of", at], verb)
        recorded = verb_output(capsys, ["--source", str(hour), "--as-of", at], verb)
        assert recorded == live, verb


def test_a_moment_between_polls_shows_the_poll_before_judged_at_the_moment(
    hour: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    between = HOUR[4] + timedelta(seconds=50)
    sources = build_sources(SourceOptions(store_path=hour), config, clock=FrozenClock(between))
    try:
        assert isinstance(sources.rewound, Playhead)
        assert sources.rewound.moment.captured_at == HOUR[4]
        assert sources.clock.now() == between
        assert "showing 2026-02-01 11:40:00Z" in sources.rewound.banner()
    finally:
        sources.close()
    at = between.strftime("%Y-%m-%dT%H:%M:%S")
    shown = verb_output(capsys, ["--source", str(hour), "--as-of", at], VERBS[0])
    polled = verb_output(
        capsys, ["--source", str(hour), "--as-of", f"{HOUR[4]:%Y-%m-%dT%H:%M:%S}"], VERBS[0]
    )
    assert shown["now"].startswith("2026-02-01T11:40:50")  # type: ignore[index]
    assert shown["checks"] == polled["checks"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("at", "says"),
    [
        (HOUR[0] - timedelta(minutes=1), "covers"),
        (HOUR[-1] + timedelta(minutes=1), "covers"),
    ],
)
def test_a_moment_outside_the_recording_is_exit_2(
    hour: Path, at: datetime, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["daily", "--source", str(hour), "--as-of", at.strftime("%Y-%m-%dT%H:%M:%S")])
    err = capsys.readouterr().err
    assert code == 2
    assert says in err and "2026-02-01" in err


def test_a_gap_in_the_recording_is_said_not_shown_as_the_poll_before(
    tmp_path: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gap.db"
    record_demo(config, out, [*HOUR[:3], *HOUR[20:22]])
    inside = (HOUR[10]).strftime("%Y-%m-%dT%H:%M:%S")
    code = main(["daily", "--source", str(out), "--as-of", inside])
    err = capsys.readouterr().err
    assert code == 2
    assert "the recorder was not running then" in err


class FailingRevisions:
    """Cloud Run unreachable (our own source contract, failing as a real one does)."""

    def fetch_services(self, names: object) -> list[object]:
        raise SourceError("Cloud Run: 503 the service is unavailable")


def record_an_outage(config: Config, out: Path) -> None:
    """Three polls of the demo from HOUR[0], POLL apart; Cloud Run fails at the second."""
    clock = FrozenClock(HOUR[0])
    sources = build_sources(SourceOptions(demo=True), config, clock=clock)
    recording = Recording(out, write=True)
    try:
        recorder = Recorder(config, sources, recording, RecordSettings(interval=POLL))
        recorder.poll()
        working = sources.revisions
        recorder.sources = Sources(**{**sources.__dict__, "revisions": FailingRevisions()})
        clock.advance(POLL)
        result = recorder.poll()
        assert result.outages == {"revisions": "Cloud Run: 503 the service is unavailable"}
        recorder.sources = Sources(**{**sources.__dict__, "revisions": working})
        clock.advance(POLL)
        assert recorder.poll().outages == {}
    finally:
        recording.close()
        sources.close()


def test_an_outage_is_recorded_as_one_and_the_rest_still_recorded(
    tmp_path: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "outage.db"
    record_an_outage(config, out)
    during = (HOUR[0] + POLL).strftime("%Y-%m-%dT%H:%M:%S")
    code = main(["revisions", "--source", str(out), "--as-of", during])
    captured = capsys.readouterr()
    assert code == 2
    assert "could not be read when this moment was recorded" in captured.err
    assert "503 the service is unavailable" in captured.err
    # The completions of the same moment were recorded and are shown.
    daily = verb_output(capsys, ["--source", str(out), "--as-of", during], VERBS[0])
    checks = {c["id"]: c for c in daily["checks"]}  # type: ignore[index]
    assert checks["phase3.completion"]["status"] == "fail"
    assert "Firestore 3/5" in checks["phase3.completion"]["evidence"]
    after = (HOUR[0] + 2 * POLL).strftime("%Y-%m-%dT%H:%M:%S")
    assert main(["revisions", "--source", str(out), "--as-of", after, "--format", "json"]) in (0, 1)
    capsys.readouterr()


def test_retention_forgets_old_moments_and_keeps_what_the_oldest_kept_needs(
    tmp_path: Path, config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kept.db"
    # 15 minutes of retention over an hour: most moments go, and the parts the first kept
    # moment shows were written long before it (revisions change rarely).
    record_demo(config, out, HOUR, retention=timedelta(minutes=15))
    recording = Recording(out)
    try:
        moments = recording.moments()
    finally:
        recording.close()
    assert len(moments) < len(HOUR) / 2
    assert moments[-1].captured_at == HOUR[-1]
    oldest = moments[0].captured_at.strftime("%Y-%m-%dT%H:%M:%S")
    for verb in VERBS:
        live = verb_output(capsys, ["--demo", "--as-of", oldest], verb)
        recorded = verb_output(capsys, ["--source", str(out), "--as-of", oldest], verb)
        assert recorded == live, verb


def test_the_size_bound_forgets_the_oldest_days_and_keeps_the_newest(tmp_path: Path) -> None:
    out = tmp_path / "bounded.db"
    days = [DEMO_START - timedelta(days=n) for n in range(10, -1, -1)]
    noise = random.Random(5)
    recording = Recording(out, write=True)
    try:
        known = recording.last_states()
        for at in days:
            # A day's log of incompressible text, so that each day weighs the same.
            log = [
                LogEntry(at - timedelta(seconds=i), "ERROR", noise.randbytes(200).hex(), "svc")
                for i in range(200)
            ]
            recording.append(Poll(at, (at.date(),), {"cloud_run_service": b"{}"}, log=log), known)
        before = recording.data_bytes()
        forgotten = recording.prune(days[-1], timedelta(days=14), before // 3)
        after = recording.data_bytes()
        kept = recording.moments()
    finally:
        recording.close()
    assert forgotten >= 5 and after <= before // 3
    assert kept[-1].captured_at == days[-1]
    assert [m.captured_at for m in kept] == days[-len(kept) :]


@pytest.fixture
def no_moment(tmp_path: Path) -> Iterator[Path]:
    out = tmp_path / "empty.db"
    Recording(out, write=True).close()
    yield out


def test_an_empty_recording_is_said(no_moment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["daily", "--source", str(no_moment)]) == 2
    assert "nothing recorded yet" in capsys.readouterr().err


def test_a_viewer_opened_on_the_latest_follows_the_recorder_and_its_tail_reads_on(
    tmp_path: Path, config: Config
) -> None:
    """Opened without --as-of, the sources move to each new moment as the recorder writes
    it; the log tail read through the moves holds every entry once, as the recording
    does."""
    out = tmp_path / "follow.db"
    clock = FrozenClock(HOUR[0])
    live = build_sources(SourceOptions(demo=True), config, clock=clock)
    recording = Recording(out, write=True)
    recorder = Recorder(config, live, recording, RecordSettings(interval=POLL))
    recorder.poll()
    viewer = build_sources(SourceOptions(store_path=out), config)
    try:
        assert isinstance(viewer.rewound, Playhead) and viewer.rewound.follow
        assert viewer.logs is not None
        batch = viewer.logs.read_log(None, 100_000)
        tail, cursor = list(batch.entries), batch.cursor
        for _ in range(5):
            clock.advance(POLL)
            recorder.poll()
            viewer.advance()  # as each pane does before it reads
            assert viewer.clock.now() == clock.now()
            batch = viewer.logs.read_log(cursor, 100_000)
            tail += batch.entries
            cursor = batch.cursor
        assert viewer.rewound.advance() == 0  # nothing new
        whole = viewer.logs.read_log(None, 100_000).entries
        assert tail == whole and len(tail) > 100
        # Sent back, it stops following and shows what it showed then.
        playhead = viewer.rewound
        earlier = playhead.step(-3)
        assert earlier is not None and earlier.captured_at == HOUR[2]
        playhead.go(earlier)
        assert not playhead.follow and viewer.clock.now() == HOUR[2]
        clock.advance(POLL)
        recorder.poll()
        viewer.advance()
        assert viewer.clock.now() == HOUR[2]
        assert max(e.timestamp for e in viewer.logs.fetch_log(HOUR[0], None)) <= HOUR[2]
        newest = playhead.step(+100)
        assert newest is None
    finally:
        viewer.close()
        recording.close()
        live.close()


class CountedPubSub:
    """The demo's Pub/Sub, with every window it was asked to read kept."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.windows: list[tuple[datetime, datetime]] = []

    def read_pubsub(self, topics: list[str], since: datetime, until: datetime) -> object:
        self.windows.append((since, until))
        return self.inner.read_pubsub(topics, since, until)  # type: ignore[attr-defined]


def test_pubsub_is_recorded_once_per_sample_period_and_every_moment_shows_the_last_reading(
    tmp_path: Path, config: Config
) -> None:
    """Monitoring samples Pub/Sub's counts once a minute: polls every 10 s read them every
    sixth poll; a settled day is read once. Every moment shows the reading taken last, as
    the live demo judged it then."""
    from orchwatch.gather import gather_pubsub

    every = timedelta(seconds=10)
    moments = [DEMO_START + every * (n + 1) for n in range(19)]  # three minutes
    out = tmp_path / "paced.db"
    counted = CountedPubSub(None)

    def count(sources: Sources) -> None:
        counted.inner = sources.pubsub
        sources.pubsub = counted  # type: ignore[assignment]

    record_demo(config, out, moments, every, count)
    today, yesterday = DEMO_START.date(), DEMO_START.date() - timedelta(days=1)
    starts = [since.date() for since, _ in counted.windows]
    assert starts.count(yesterday) == 1  # ended the evening before: read once, kept
    read_at = sorted({until for since, until in counted.windows if since.date() == today})
    assert read_at == [moments[0], moments[6], moments[12], moments[18]]
    for moment in moments:
        last = max(at for at in read_at if at <= moment)
        rewound = build_sources(SourceOptions(store_path=out), config, clock=FrozenClock(moment))
        live = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(last))
        try:
            view = gather_pubsub(config, rewound, today)
            then = gather_pubsub(config, live, today).hops
        finally:
            rewound.close()
            live.close()
        assert not view.hops.error, (moment, view.hops.error)
        assert view.hops.value == then.value, moment
        # Between two readings, the view says when the one it shows was taken.
        assert view.read_until == (last if last < moment else None), moment


def test_a_follower_says_when_the_recorder_went_quiet_and_picks_up_a_restarted_one(
    tmp_path: Path, config: Config
) -> None:
    """Following a recording whose recorder stopped is never shown as live: after three
    polls and half a minute without a new moment the banner asks whether the recorder is
    running. A recorder started again on the same file is followed again (the file,
    opened while nobody wrote it, is opened anew to see it)."""
    out = tmp_path / "restart.db"
    record_demo(config, out, HOUR[:3])  # then the recorder stops: the file is closed
    ticks = [0.0]
    recording = Recording(out)
    playhead = Playhead(recording, out, recording.moment_at(None), None, lambda: ticks[0])
    try:
        assert "(following) ·" in playhead.banner()
        ticks[0] = 300.0  # polls are 2 min: not yet three of them and half a minute
        assert playhead.advance() == 0 and "nothing new" not in playhead.banner()
        ticks[0] = 400.0
        assert playhead.advance() == 0
        assert "(following · nothing new for 6 min: is the recorder running?)" in (
            playhead.banner()
        )
        record_demo(config, out, HOUR[3:5])  # a recorder started again on the file
        ticks[0] = 530.0
        assert playhead.advance() == 1
        assert playhead.moment.captured_at == HOUR[4]
        assert "(following) ·" in playhead.banner()
    finally:
        playhead.close()
