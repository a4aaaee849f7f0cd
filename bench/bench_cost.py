"""Issue 17's cost figure: the bytes one completion refresh scans on an unpartitioned
`phase_completions` of 1 million rows, and what a day of refreshes costs with and
without the daily budget.

BigQuery bills the columns a query reads, by its documented data sizes (STRING: 2 bytes
plus the UTF-8 length; INT64, DATE, TIMESTAMP: 8 bytes). The emulator's dry run
estimates 0 B, so the figure is computed by those rules over the demo's own rows,
repeated to 1 million: what real BigQuery's dry run would say, not a measurement of it.
"""

from __future__ import annotations

from bench.common import report

ROWS = 1_000_000


def main() -> None:
    from bench.bench_gcp import scanned_bytes
    from orchwatch.config import load_config
    from orchwatch.sources.gcp import spaced_interval
    from orchwatch.sources.gcp.bigquery import format_bytes

    print("BigQuery cost (issue 17)")
    config = load_config(None)
    total, rows = scanned_bytes(None)  # every row: what an unpartitioned table reads
    per_row = total / rows
    scanned = int(per_row * ROWS)
    print(f"  {per_row:.0f} bytes a row in the columns the query reads (the demo's {rows} rows)")
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
