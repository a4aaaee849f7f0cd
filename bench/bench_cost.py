"""Issue 17's cost figure: the bytes one completion refresh scans on an unpartitioned
`phase_completions` of 1 million rows, and what a day of refreshes costs with and
without the daily budget.

BigQuery bills the columns a query reads, by its documented data sizes (STRING: 2 bytes
plus the UTF-8 length; INT64, DATE, TIMESTAMP: 8 bytes). The emulator's dry run
estimates 0 B, so the figure is computed by those rules over the demo's own rows,
repeated to 1 million: what real BigQuery's dry run would say, not a measurement of it.
"""

from __future__ import annotations

import re

from bench.common import report

ROWS = 1_000_000
FIXED = {"DATE": 8, "TIMESTAMP": 8, "INT64": 8, "BOOL": 1}


def main() -> None:
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.sources.demo import DEMO_START
    from orchwatch.sources.factory import SourceOptions, build_sources
    from orchwatch.sources.gcp import spaced_interval
    from orchwatch.sources.gcp.bigquery import BACKUP_SUMMARY_SQL, format_bytes
    from tests.loopback.seed import SCHEMAS

    print("BigQuery cost (issue 17)")
    config = load_config(None)
    sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))
    store = sources.completions
    try:
        rows = store.export_rows("phase_completions")  # type: ignore[attr-defined]
    finally:
        for closer in sources.closers:
            closer.close()  # type: ignore[attr-defined]
    schema = {f.name: f.field_type for f in SCHEMAS["phase_completions"]}
    read = [c for c in schema if re.search(rf"\b{c}\b", BACKUP_SUMMARY_SQL)]
    per_row = 0.0
    for row in rows:
        for column in read:
            kind = schema[column]
            value = row.get(column)
            if kind == "STRING":
                per_row += 2 + len(str(value or "").encode())
            else:
                per_row += FIXED[kind]
    per_row /= len(rows)
    scanned = int(per_row * ROWS)
    print(f"  columns read: {', '.join(read)}; {per_row:.0f} bytes a row (the demo's rows)")
    report("one refresh on an unpartitioned table of 1,000,000 rows", scanned / 1e6, "MB")
    budget = config.gcp.daily_scan_budget
    unspaced = scanned * 86_400 / config.refresh_seconds
    interval = spaced_interval(scanned, budget, config.refresh_seconds / 2)
    print(f"  every {config.refresh_seconds:g} s refresh: {format_bytes(int(unspaced))} a day")
    print(
        f"  spaced to the {format_bytes(budget)} daily budget: a read every "
        f"{interval / 60:.1f} min, {format_bytes(int(scanned * 86_400 / interval))} a day"
    )


if __name__ == "__main__":
    main()
