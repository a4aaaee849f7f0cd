"""`orchwatch record` on the Google Cloud sources (the official clients against the local
servers seeded with the demo): a recorded moment's walkthrough, revisions and error groups
are what the same sources said live at that moment."""

from __future__ import annotations

import json
from pathlib import Path

from gcp_helpers import gcp_sources

from orchwatch.analysis.daily import evaluate
from orchwatch.clock import FrozenClock
from orchwatch.config import Config
from orchwatch.gather import gather_daily, gather_errors, gather_revisions
from orchwatch.recorder import Recorder
from orchwatch.render import errors_json, revisions_json
from orchwatch.sources.base import Sources
from orchwatch.sources.demo import DEMO_START
from orchwatch.sources.factory import SourceOptions, build_sources
from orchwatch.sources.history import Recording

DAY = DEMO_START.date()


def said(config: Config, sources: Sources) -> dict[str, object]:
    """What the walkthrough, the revisions and the error groups say, as data."""
    from datetime import timedelta

    return {
        "daily": [
            (r.id, r.status.value, r.evidence)
            for r in evaluate(gather_daily(config, sources, DAY), config.timezone)
        ],
        "revisions": json.loads(
            revisions_json(gather_revisions(config, sources), config.shown_zone)
        ),
        "errors": json.loads(errors_json(gather_errors(config, sources, timedelta(hours=2))))[
            "groups"
        ],
    }


def test_a_recorded_moment_of_google_cloud_says_what_it_said_live(
    world: tuple[Config, Sources, Sources, object], tmp_path: Path
) -> None:
    config, _demo, live, _seeded = world
    out = tmp_path / "gcp.db"
    recorder_sources = gcp_sources(config, "orchwatch-world", FrozenClock(DEMO_START))
    recording = Recording(out, write=True)
    try:
        recorder = Recorder(config, recorder_sources, recording, config.record)
        result = recorder.poll()
        assert result.outages == {}, result.outages
    finally:
        recording.close()
        recorder_sources.close()
    rewound = build_sources(SourceOptions(store_path=out), config)
    try:
        assert rewound.clock.now() == DEMO_START
        assert rewound.invokers is not None and rewound.scheduler is not None
        assert said(config, rewound) == said(config, live)
    finally:
        rewound.close()
