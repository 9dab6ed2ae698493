"""Local Prometheus, Alertmanager and a webhook "pager", as child processes on loopback.

Used by the drill and by end-to-end tests. Every process is started with its own temporary
storage and port and is killed by :meth:`Stack.stop` (also on errors, via ``with Stack()``).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from collections.abc import Callable
from typing_extensions import Self

if TYPE_CHECKING:
    from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_posts(
    port: int, on_post: Callable[[str, bytes], None], content_type: str = "text/plain"
) -> ThreadingHTTPServer:
    """A loopback HTTP server in a daemon thread that hands every POST to ``on_post``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            on_post(self.path, self.rfile.read(int(self.headers.get("content-length", 0))))
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_server(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def alertmanager_binary() -> str | None:
    return shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")


def tools_available() -> bool:
    return bool(shutil.which("prometheus") and alertmanager_binary())


@dataclass
class Page:
    """One alert notification as the pager received it."""

    received_at: float
    receiver: str
    status: str
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]


@dataclass
class Pager:
    """A webhook receiver standing in for PagerDuty/Slack: records every notification."""

    port: int = field(default_factory=free_port)
    pages: list[Page] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        self._server = serve_posts(self.port, self._received)

    def _received(self, path: str, body: bytes) -> None:
        now = time.time()
        for alert in json.loads(body or b"{}").get("alerts", []):
            self.pages.append(
                Page(
                    received_at=now,
                    receiver=path.strip("/"),
                    status=alert.get("status", ""),
                    alertname=alert.get("labels", {}).get("alertname", ""),
                    labels=alert.get("labels", {}),
                    annotations=alert.get("annotations", {}),
                )
            )

    def stop(self) -> None:
        stop_server(self._server)

    def find(self, alertname: str, status: str = "firing") -> Page | None:
        return next((p for p in self.pages if p.alertname == alertname and p.status == status), None)


class Stack:
    """Prometheus + Alertmanager + pager in a work directory; use as a context manager."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pager = Pager()
        self.otlp = OtlpSink()
        self.prometheus_port = free_port()
        self.alertmanager_port = free_port()
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        self._processes.append((name, process))

    def start_alertmanager(self, config: dict[str, Any]) -> None:
        """Alertmanager with ``config``; receivers' URLs should point at :attr:`pager`."""
        binary = alertmanager_binary()
        if binary is None:
            msg = "alertmanager is not installed (run scripts/install-tools.sh)"
            raise RuntimeError(msg)
        path = self.workdir / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self._spawn(
            "alertmanager",
            [
                binary,
                f"--config.file={path}",
                f"--storage.path={self.workdir / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
        )
        self.wait_ready(f"{self.alertmanager_url}/-/ready")

    def start_prometheus(
        self,
        *,
        targets: list[str],
        rule_files: list[Path],
        service: str,
        interval: str = "1s",
    ) -> None:
        """Prometheus scraping ``targets`` (host:port) with ``service`` as a target label."""
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(path) for path in rule_files],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager_port}"]}]}]},
            "scrape_configs": [
                {
                    "job_name": service,
                    "scrape_interval": interval,
                    "static_configs": [{"targets": targets, "labels": {"service": service}}],
                }
            ],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        binary = shutil.which("prometheus")
        if binary is None:
            msg = "prometheus is not installed (run scripts/install-tools.sh)"
            raise RuntimeError(msg)
        self._spawn(
            "prometheus",
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={self.workdir / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                "--enable-feature=exemplar-storage",
                # Send firing alerts at once (default 1m), so a drill's pages are not delayed.
                "--rules.alert.resend-delay=1s",
                "--log.level=warn",
            ],
        )
        self.wait_ready(f"{self.prometheus_url}/-/ready")

    def wait_ready(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self._processes:
                if process.poll() is not None:
                    log = (self.workdir / f"{name}.log").read_text(errors="replace")
                    msg = f"{name} exited with {process.returncode}:\n{log[-2000:]}"
                    raise RuntimeError(msg)
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        msg = f"{url} not ready after {timeout}s"
        raise RuntimeError(msg)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant PromQL query; the ``result`` vector."""
        url = f"{self.prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        return list(body["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Prometheus currently has pending or firing."""
        with urllib.request.urlopen(f"{self.prometheus_url}/api/v1/alerts", timeout=5) as response:
            return list(json.loads(response.read())["data"]["alerts"])

    def stop(self) -> None:
        for _name, process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
        for _name, process in reversed(self._processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # noqa: PERF203 - each process gets its own deadline
                process.kill()
                process.wait(timeout=5)
        self._processes.clear()
        self.pager.stop()
        self.otlp.stop()


@dataclass
class SpanSeen:
    trace_id: str
    name: str
    attributes: dict[str, Any]
    events: list[str]
    # Enough to draw the trace as a waterfall in the HTML report.
    span_id: str = ""
    parent_span_id: str = ""
    start: float = 0.0  # Unix seconds
    end: float = 0.0
    error: bool = False


@dataclass
class OtlpSink:
    """Stands in for the OpenTelemetry Collector: accepts OTLP/HTTP and keeps the spans, so
    the drill can show that a paged request's trace carries its correlation ID."""

    port: int = field(default_factory=free_port)
    spans: list[SpanSeen] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = serve_posts(self.port, self._received, "application/x-protobuf")

    def _received(self, path: str, body: bytes) -> None:
        if path != "/v1/traces":
            return  # logs and metrics are accepted and dropped
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        def value(any_value: Any) -> Any:
            kind = any_value.WhichOneof("value")
            return getattr(any_value, kind) if kind else None

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.spans.extend(
                    SpanSeen(
                        trace_id=span.trace_id.hex(),
                        name=span.name,
                        attributes={a.key: value(a.value) for a in span.attributes},
                        events=[event.name for event in span.events],
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        start=span.start_time_unix_nano / 1e9,
                        end=span.end_time_unix_nano / 1e9,
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                    )
                    for span in scope.spans
                )

    def stop(self) -> None:
        stop_server(self._server)

    def trace(self, trace_id: str) -> list[SpanSeen]:
        return [span for span in self.spans if span.trace_id == trace_id]
