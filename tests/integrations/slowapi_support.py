"""Helpers for the slowapi tests: the outbox tests' TCP proxy, run on a loop of its own.

slowapi calls Redis through the blocking redis-py client, inside the test's event loop; a
proxy served by that same loop could never forward the bytes. Running the proxy's loop in a
thread keeps the helper shared and the cut real (connections closed, new ones refused).
"""

from __future__ import annotations

import asyncio
import threading

from tests.outbox.outbox_support import TcpProxy


class ThreadedProxy:
    """:class:`TcpProxy` on a background loop; ``cut()`` and ``restore()`` keep the port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="h6-proxy", daemon=True)
        self._thread.start()
        self._proxy = TcpProxy(target)

    @property
    def port(self) -> int:
        return self._proxy.port

    def _run(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def restore(self) -> None:
        self._run(self._proxy.start())

    def cut(self) -> None:
        self._run(self._proxy.stop())

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
