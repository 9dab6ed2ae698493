"""The reference service as a child process, and the traffic the drill sends it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from examples.drill.stack import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Request:
    """One request the drill sent: what a user would see."""

    at: float
    method: str
    path: str
    status: int
    correlation_id: str


@dataclass
class Service:
    """``python -m examples.orders`` on a loopback port, JSON logs to a file."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "service.log"

    def start(self, timeout: float = 60.0) -> None:
        env = {
            **os.environ,
            "PORT": str(self.port),
            "HOST": "127.0.0.1",
            "ORDERS_FAULTS": "1",
            "OTEL_SERVICE_NAME": "orders",
            "PYTHONPATH": str(ROOT),
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",
            **self.env,
        }
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "examples.orders"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                msg = f"the service exited with {self._process.returncode}:\n{self.log_path.read_text()[-3000:]}"
                raise RuntimeError(msg)
            try:
                self.call("GET", "/health/live")
            except OSError:
                time.sleep(0.2)
            else:
                return
        msg = "the service did not become live in time"
        raise RuntimeError(msg)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)

    def call(self, method: str, path: str, body: Any = None, correlation_id: str | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        if correlation_id:
            request.add_header("X-Correlation-ID", correlation_id)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        status, body = self.call("POST", "/admin/faults", faults)
        if status != 200:
            msg = f"fault injection refused: {status} {body}"
            raise RuntimeError(msg)
        return dict(body)

    def log_lines(self, correlation_id: str) -> list[dict[str, Any]]:
        """The service's JSON log lines carrying ``correlation_id``."""
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            if correlation_id not in raw:
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if entry.get("correlation_id") == correlation_id:
                lines.append(entry)
        return lines


class Traffic:
    """A steady, bounded stream of user requests from a background thread."""

    def __init__(self, service: Service, rate: float = 8.0) -> None:
        self.service = service
        self.rate = rate
        self.requests: list[Request] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def _send(self, method: str, path: str, body: Any = None) -> None:
        self._n += 1
        cid = f"drill-{self._n:05d}"
        try:
            status, _ = self.service.call(method, path, body, correlation_id=cid)
        except OSError:
            status = 0
        self.requests.append(Request(time.time(), method, path, status, cid))

    def _run(self) -> None:
        pause = 1.0 / self.rate
        while not self._stop.is_set():
            self._send("POST", "/orders", {"item": "book", "quantity": 1})
            order = self._n % 50 + 1
            self._send("GET", f"/orders/{order}")
            self._send("PUT", f"/orders/{order}/receipt", {"text": "thanks"})
            if self._n % 15 == 0:
                self._send("GET", "/health/ready")  # the orchestrator's readiness probe
            self._stop.wait(pause)

    def failures_between(self, start: float, end: float, path_part: str = "") -> list[Request]:
        return [r for r in self.requests if start <= r.at <= end and r.status >= 500 and path_part in r.path]
