"""Building configs in tests, and checking what a bad one says."""

from __future__ import annotations

import pytest

from orchwatch.config import ConfigError, parse_config

MINIMAL = """[pipeline]
name = "p"
[[phases]]
name = "phase2"
[[phases.processors]]
name = "a"
"""
"""The smallest valid config: one phase of one processor."""


def assert_config_error(text: str, key: str, expected: str) -> None:
    """`text` is refused naming `key`, saying `expected`."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, None)
    assert caught.value.key == key
    assert expected in str(caught.value)
