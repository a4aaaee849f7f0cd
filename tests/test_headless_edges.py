"""Headless edges: what --help lists, where global options may go, counts in words."""

from __future__ import annotations

import pytest

from orchwatch.cli import main
from orchwatch.plural import counted


def test_help_lists_no_hidden_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "SUPPRESS" not in out
    assert "demo-deploy" not in out and "demo-rollback" not in out
    assert "revisions" in out and "demo-repo" in out


@pytest.mark.parametrize("verb", ["revisions", "errors", "daily"])
def test_as_of_means_the_same_before_or_after_the_verb(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ["--date", "2026-02-01"] if verb == "daily" else []
    before = main(["--as-of", "2026-02-01T11:30", verb, "--demo", *extra])
    first = capsys.readouterr().out
    after = main([verb, "--demo", *extra, "--as-of", "2026-02-01T11:30"])
    second = capsys.readouterr().out
    assert (before, first) == (after, second)
    assert first  # it said something


def test_counts_are_in_words() -> None:
    assert counted(1, "row") == "1 row"
    assert counted(2, "row") == "2 rows"
    assert counted(0, "error") == "0 errors"
    assert counted(1, "entry") == "1 entry"
    assert counted(2300, "entry") == "2,300 entries"
    assert counted(1, "triggered transition") == "1 triggered transition"


def test_the_walkthrough_says_one_row_not_one_rows(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--as-of", "2026-02-01T11:30", "daily", "--demo", "--date", "2026-02-01"])
    out = capsys.readouterr().out
    assert "1 row for 1 triggered transition" in out
    assert "1 rows" not in out
