"""What every screen reads from the app, typed: its configuration, sources and audit log.

Screens are given the app by Textual as a plain `App`; `context(node)` gives them the
orchwatch app's own fields with their types, and fails loudly on any other app."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from textual.dom import DOMNode

from orchwatch.actions.audit import AuditLog
from orchwatch.config import Config
from orchwatch.sources.base import Sources


@runtime_checkable
class AppContext(Protocol):
    """The fields of the orchwatch app that screens read."""

    config: Config
    sources: Sources
    audit: AuditLog

    @property
    def refresh_seconds(self) -> float:
        """How often views that poll read again."""
        ...


def context(node: DOMNode) -> AppContext:
    """The orchwatch app `node` runs in."""
    app = node.app
    if not isinstance(app, AppContext):
        raise TypeError(f"{type(app).__name__} is not orchwatch's app")
    return app
