"""The footer, recomposed once per burst of binding changes.

Textual's `Footer` rebuilds every key (a widget each, styles and all) each time the
screen's bindings change, and at start-up they change five times in a row (mount,
focus, app focus...): about a sixth of the time to the first frame went to footers
built and thrown away. This one rebuilds once for each burst: a change while a rebuild
is pending joins it.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class SteadyFooter(Footer):
    """A `Footer` that coalesces binding changes into one rebuild."""

    _rebuild_pending = False

    def bindings_changed(self, screen: Screen[object]) -> None:
        """As `Footer.bindings_changed`, once per burst."""
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        await self.recompose()
