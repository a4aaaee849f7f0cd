"""`orchwatch serve`: the dashboard of a recording in browsers, through textual-serve.

textual-serve's server, with two changes: the URL is announced once the socket listens
(its own banner is printed before), so whoever waits for the line can connect; and its
banner and request log stay out of orchwatch's output.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from aiohttp import web
from textual_serve.server import Server


class ViewerServer(Server):
    """Serves `command` (a viewer of a recording) to each browser that opens the page."""

    def __init__(self, command: str, host: str, port: int, announce: Callable[[str], None]):
        super().__init__(command, host=host, port=port, title="orchwatch")
        self._announce = announce

    async def on_startup(self, app: web.Application) -> None:
        """Nothing: the URL is announced once the socket listens."""

    def serve(self, debug: bool = False) -> None:
        """Serve until SIGINT or SIGTERM."""
        self.debug = debug
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self.request_exit)
        web.run_app(
            self._make_app(),
            host=self.host,
            port=self.port,
            handle_signals=False,
            loop=loop,
            print=lambda *_: self._announce(self.public_url),  # called once it listens
        )
