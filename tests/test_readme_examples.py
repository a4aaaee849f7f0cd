"""The README's examples are what the commands print on the demo (they had drifted:
three differed from the product)."""

from __future__ import annotations

import pytest
from readme_examples import README, blocks, render

EXAMPLES = blocks(README.read_text())


def test_the_readme_has_its_examples() -> None:
    args = [a.removeprefix("--as-of 2026-02-01T11:30 ") for a, _ in EXAMPLES]
    assert "daily --demo --date 2026-02-01 --format markdown" in args
    assert "revisions --demo" in args
    assert "errors --demo --since 2h" in args
    assert all(a.startswith("--as-of ") for a, _ in EXAMPLES)  # a live clock would drift


@pytest.mark.parametrize(("args", "body"), EXAMPLES, ids=[a for a, _ in EXAMPLES])
def test_an_example_is_what_its_command_prints(args: str, body: str) -> None:
    assert body == render(args), "run: python tests/readme_examples.py"
