"""End to end: a real Prometheus scrapes an app whose breaker is forced open, evaluates the
generated rules, and a real Alertmanager delivers the page to a webhook in this test."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from telemetry import catalog
from telemetry.metrics import family
from telemetry.rules import RulesConfig, render
from telemetry.rules.definitions import families
from telemetry.rules.render import alert_annotations
from tests.alerts.support import tool

DEADLINE_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OpenBreaker:
    """A scrape-time collector: breaker `s3` stuck open (one-hot, like the real ones), and S3
    operations failing half the time at 10 per second."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def collect(self) -> Any:
        state = family(catalog.CIRCUIT_STATE)
        for name in catalog.BREAKER_STATES:
            state.add_metric(["s3", name], 1.0 if name == "open" else 0.0)
        yield state
        operations = family(catalog.DEPENDENCY_OPERATIONS)
        elapsed = time.monotonic() - self.started
        for outcome in ("success", "server_error"):
            operations.add_metric(["s3", "PutObject", outcome], 5.0 * elapsed)
        yield operations


class Webhook(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Receive(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def wait_for(predicate: Any, deadline: float, what: str, logs: list[Path]) -> Any:
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    tails = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)
    msg = f"timed out waiting for {what}\n{tails}"
    raise AssertionError(msg)


def test_breaker_forced_open_pages_through_prometheus_and_alertmanager(tmp_path: Path) -> None:
    """A breaker open longer than the (compressed) limit reaches the pager webhook with the
    alert's exact labels and annotations; the S3 failure-ratio alert of the same dependency
    fires too but is inhibited, so it is never paged; Watchdog reaches the dead-man receiver."""
    prometheus = tool("prometheus")
    alertmanager_bin = tool("prometheus-alertmanager")
    from prometheus_client import CollectorRegistry, start_http_server

    hook = Webhook()
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = RulesConfig(
        scrape_interval="1s",
        breaker_not_closed_for="3s",
        breaker_pending="1s",
        rate_window="4s",
        dependency_failure_for="5s",  # after the breaker page, so the inhibition is in place
        pager_url=f"{hook.url}/pager",
        ticket_url=f"{hook.url}/ticket",
        deadman_url=f"{hook.url}/deadman",
        group_wait="1s",
        group_interval="1s",
    )
    for path, content in render(config).items():
        (tmp_path / path.name).write_text(content, encoding="utf-8")
    registry = CollectorRegistry()
    registry.register(OpenBreaker())
    app_port, prom_port, am_port = free_port(), free_port(), free_port()
    server, _ = start_http_server(app_port, addr="127.0.0.1", registry=registry)
    instance = f"127.0.0.1:{app_port}"
    prom_config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in sorted(tmp_path.glob("*.rules.yml"))],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [
            {"job_name": "app", "static_configs": [{"targets": [instance], "labels": {"service": "e2e"}}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prom_config), encoding="utf-8")
    logs = [tmp_path / "prometheus.log", tmp_path / "alertmanager.log"]
    processes: list[subprocess.Popen[bytes]] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        with logs[1].open("wb") as am_log:
            processes.append(
                subprocess.Popen(
                    [
                        alertmanager_bin,
                        f"--config.file={tmp_path / 'alertmanager.yml'}",
                        f"--storage.path={tmp_path / 'am-data'}",
                        f"--web.listen-address=127.0.0.1:{am_port}",
                        "--cluster.listen-address=",
                    ],
                    stdout=am_log,
                    stderr=subprocess.STDOUT,
                )
            )
        with logs[0].open("wb") as prom_log:
            processes.append(
                subprocess.Popen(
                    [
                        prometheus,
                        f"--config.file={tmp_path / 'prometheus.yml'}",
                        f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                        f"--web.listen-address=127.0.0.1:{prom_port}",
                        "--rules.alert.resend-delay=1s",  # re-send what fired before Alertmanager was found
                    ],
                    stdout=prom_log,
                    stderr=subprocess.STDOUT,
                )
            )

        def page() -> dict[str, Any] | None:
            with hook.lock:
                for path, payload in hook.received:
                    if path == "/pager" and payload["status"] == "firing":
                        return payload
            return None

        payload = wait_for(page, deadline, "the CircuitBreakerOpen page", logs)
        wait_for(
            lambda: any(path == "/deadman" for path, _ in hook.received), deadline, "the Watchdog notification", logs
        )

        def inhibited() -> list[Any]:
            with urllib.request.urlopen(f"http://127.0.0.1:{am_port}/api/v2/alerts", timeout=5) as response:
                alerts = json.load(response)
            return [a for a in alerts if a["labels"]["alertname"] == "DependencyFailureRatioHigh"]

        muted = wait_for(inhibited, deadline, "DependencyFailureRatioHigh in Alertmanager", logs)
        time.sleep(2)  # group_wait + group_interval: it would have been paged by now
        paged = [a["labels"]["alertname"] for path, p in list(hook.received) if path == "/pager" for a in p["alerts"]]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        server.shutdown()
        hook.shutdown()
        hook.server_close()

    labels = {
        "alertname": "CircuitBreakerOpen",
        "severity": "critical",
        "service": "e2e",
        "instance": instance,
        "breaker_name": "s3",
        "dependency": "s3",
    }
    rule = next(a for f in families(config) for a in f.alerts if a.name == "CircuitBreakerOpen")
    annotations = {
        **alert_annotations(config, rule, labels),
        "description": (
            f"Breaker s3 of e2e on {instance} has been open or half-open for more than 3s; calls to it are rejected."
        ),
    }
    assert payload["receiver"] == "pager"
    assert payload["groupLabels"] == {"alertname": "CircuitBreakerOpen", "service": "e2e"}
    assert [(alert["status"], alert["labels"], alert["annotations"]) for alert in payload["alerts"]] == [
        ("firing", labels, annotations)
    ]
    assert [(a["labels"], a["status"]["state"], a["status"]["inhibitedBy"] != []) for a in muted] == [
        (
            {
                "alertname": "DependencyFailureRatioHigh",
                "severity": "critical",
                "service": "e2e",
                "dependency": "s3",
            },
            "suppressed",
            True,
        )
    ]
    assert set(paged) == {"CircuitBreakerOpen"}
    assert all(process.returncode is not None for process in processes)
