"""A loopback TCP proxy in its own threads that can stall: while stalled it keeps every
connection open and accepts new ones, but forwards no byte (a database or broker that hangs
behind a partition); after ``resume()`` traffic flows again."""

from __future__ import annotations

import contextlib
import socket
import threading


class StallingProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._flowing = threading.Event()
        self._flowing.set()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="stall-proxy", daemon=True)
        self._thread.start()

    def stall(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.1)
        with contextlib.suppress(OSError):
            while not self._stop.is_set():
                self._flowing.wait()
                try:
                    data = source.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                while not self._flowing.wait(0.1):  # stalled mid-stream: hold the bytes
                    if self._stop.is_set():
                        return
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._stop.set()
        self._flowing.set()
        self._thread.join(2)
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def __enter__(self) -> StallingProxy:  # noqa: PYI034 - Python 3.10 has no typing.Self
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
