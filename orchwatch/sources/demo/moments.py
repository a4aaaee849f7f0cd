"""The moments the demo's story is told between."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

DEMO_START = datetime(2026, 2, 1, 11, 30, tzinfo=UTC)
"""Where the live demo's clock starts: 06:30 in New York (03:30 in us-west2) on the last
incident date. phase3-to-phase4-orchestrator has served 00025 since 00026 failed on
Jan 29; 00027 lands at 04:28 Pacific, about a minute into the demo."""
FIRST_DATE = date(2026, 1, 19)
LAST_DATE = date(2026, 2, 1)
REPLAY_SPAN = (datetime.combine(FIRST_DATE, time(0), UTC), DEMO_START + timedelta(days=2))
"""The moments a frozen clock (`--as-of`) may replay the demo to: its story's dates, and two
days of the live demo after its start. Past that the simulator would invent log lines for
every minute up to the moment asked for (a month took 7 s and 800 MB)."""

LOG_HISTORY = timedelta(hours=2)
"""How much log history the demo has at its start."""
