"""Issue 14's explain figure: the chain for one cell from data already loaded (the date's
completions, the verdicts, the error groups, the package findings and the commits), and,
for reference, the same with the validator and git read again as `x` in the dashboard
does."""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.common import report


def main() -> None:
    from orchwatch.analysis.explain import explain
    from orchwatch.cli import _demo_deploys
    from orchwatch.clock import FrozenClock
    from orchwatch.config import load_config
    from orchwatch.gather import gather_explain, package_reads
    from orchwatch.sources.demo import DEMO_START
    from orchwatch.sources.factory import SourceOptions, build_sources
    from orchwatch.validate.demo_repo import commit_history, write_demo_repo

    print("explain (issue 14)")
    with tempfile.TemporaryDirectory(prefix="orchwatch-bench-explain-") as folder:
        repo = Path(folder) / "repo"
        write_demo_repo(repo)
        commit_history(repo, _demo_deploys())
        config = replace(load_config(None), repo_path=repo)
        sources = build_sources(SourceOptions(demo=True), config, clock=FrozenClock(DEMO_START))
        try:
            inputs = gather_explain(config, sources, DEMO_START.date())
            cell = {"phase": "phase3", "processor": "team_defense_game_summary"}
            chain: list[float] = []
            for _ in range(50):
                start = time.perf_counter()
                explanation = explain(inputs, config.shown_zone, **cell)
                chain.append(time.perf_counter() - start)
            assert explanation.root_cause is not None
            reads: list[float] = []
            verdicts = inputs.verdicts.value or []
            for _ in range(10):
                start = time.perf_counter()
                packages, deployed = package_reads(config, config.services, verdicts, inputs.now)
                explain(
                    replace(inputs, packages=packages, deployed=deployed), config.shown_zone, **cell
                )
                reads.append(time.perf_counter() - start)
        finally:
            for closer in sources.closers:
                closer.close()  # type: ignore[attr-defined]
    report(
        "one cell's chain from loaded data (median of 50)",
        statistics.median(chain) * 1000,
        "ms",
        100,
    )
    report(
        "  the same with the validator (cached) and git, as x does",
        statistics.median(reads) * 1000,
        "ms",
    )


if __name__ == "__main__":
    main()
