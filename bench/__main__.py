"""`make bench`: every benchmark, one section per issue that names a speed or memory goal."""

from __future__ import annotations

from bench import (
    bench_corpus,
    bench_cost,
    bench_errors_file,
    bench_explain,
    bench_gcp,
    bench_grid,
    bench_layout,
    bench_log_filter,
    bench_logs,
    bench_revisions,
    bench_suppression,
    bench_timeline,
    bench_validate,
)


def main() -> None:
    bench_grid.main()
    print()
    bench_layout.main()
    print()
    bench_validate.main()
    print()
    bench_corpus.main()
    print()
    bench_revisions.main()
    print()
    bench_logs.main()
    print()
    bench_gcp.main()
    print()
    bench_cost.main()
    print()
    bench_log_filter.main()
    print()
    bench_suppression.main()
    print()
    bench_errors_file.main()
    print()
    bench_explain.main()
    print()
    bench_timeline.main()


if __name__ == "__main__":
    main()
