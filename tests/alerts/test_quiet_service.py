"""Quiet by default, under a real Prometheus: the shipped rules (committed ``alerts/*.rules.yml``,
real thresholds) against healthy services never page.

Scrape and evaluation run every second. A condition that is true for a healthy service shows
as *pending* at its first evaluation whatever its ``for:``, so watching the alerts for two
minutes is enough to catch a rule that would page a healthy service after its ``for:``.
Two services are scraped as two jobs, as a new user's plain scrape config gives them (only
``job`` and ``instance``, no relabelling):

- ``quiet``: a service whose only telemetry line is ``telemetry.instrument(app)``;
- ``orders``: the reference service with every integration in use and healthy (pool, outbox
  relay, broker and consumer, S3 with its breaker, health checks, retries), under traffic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from examples.drill.service import Service, Traffic
from examples.drill.stack import free_port
from tests.alerts.support import ROOT, RULE_FILES, tool

QUIET_SECONDS = 120
# Series each feature of the reference service exports: if one is missing, the quiet run
# proved nothing about the alerts that read it.
FEATURE_SERIES = (
    "resilience_circuit_state",
    "db_client_connection_count",
    "db_client_connection_max",
    "resilience_outbox_relay_last_heartbeat_timestamp_seconds",
    "resilience_outbox_oldest_pending_age_seconds",
    "resilience_health_checks_total",
    "resilience_retry_calls_total",
    "resilience_dependency_operations_total",
    "http_server_request_duration_seconds_count",
)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


class Prometheus:
    """A Prometheus process scraping ``jobs`` (name -> host:port) with the committed rules."""

    def __init__(self, workdir: Path, jobs: dict[str, str]) -> None:
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in RULE_FILES],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in jobs.items()
            ],
        }
        path = workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.log = workdir / "prometheus.log"
        self.process = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={path}",
                f"--storage.tsdb.path={workdir / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def api(self, path: str) -> Any:
        return _get(f"http://127.0.0.1:{self.port}/api/v1/{path}")["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api(f"query?{urllib.parse.urlencode({'query': expr})}")["result"])

    def wait_up(self, jobs: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if len(self.query("up == 1")) == jobs:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        msg = f"targets not up in {timeout}s: {self.log.read_text(errors='replace')[-2000:]}"
        raise AssertionError(msg)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


class QuietService:
    """``tests.alerts.quiet_app`` under uvicorn, with a few requests a second."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OTEL_EXPORTER_OTLP_ENDPOINT": ""}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.alerts.quiet_app:create_app",
                "--factory",
                "--host=127.0.0.1",
                f"--port={self.port}",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=(workdir / "quiet.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._traffic, daemon=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                _get(f"http://{self.target}/hello")
            except OSError:
                time.sleep(0.2)
            else:
                self._thread.start()
                return
        msg = "the quiet service did not start"
        raise AssertionError(msg)

    def _traffic(self) -> None:
        while not self._stop.wait(0.25):
            try:
                _get(f"http://{self.target}/hello")
            except OSError:
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.process.terminate()
        self.process.wait(timeout=15)


@pytest.mark.slow
def test_healthy_services_raise_no_alert_but_watchdog(tmp_path: Path) -> None:
    """Over two minutes of healthy operation (1 s scrape and evaluation), no alert of the
    shipped rules is pending or firing for either service; Watchdog fires throughout; every
    rule evaluates without error; the reference service exports every feature's series."""
    tool("prometheus")
    quiet = QuietService(tmp_path)
    orders = Service(tmp_path / "orders")
    (tmp_path / "orders").mkdir()
    traffic = Traffic(orders, rate=4.0)
    prometheus: Prometheus | None = None
    seen: dict[tuple[str, str], dict[str, str]] = {}
    watchdog_states: set[str] = set()
    try:
        quiet.start()
        orders.start()
        traffic.start()
        prometheus = Prometheus(tmp_path, {"quiet": quiet.target, "orders": f"127.0.0.1:{orders.port}"})
        prometheus.wait_up(jobs=2)
        deadline = time.monotonic() + QUIET_SECONDS
        while time.monotonic() < deadline:
            for alert in prometheus.api("alerts")["alerts"]:
                labels = alert["labels"]
                if labels["alertname"] == "Watchdog":
                    watchdog_states.add(alert["state"])
                    continue
                seen.setdefault((labels["alertname"], alert["state"]), labels)
            time.sleep(1)
        unhealthy = [
            (rule["name"], rule["lastError"])
            for group in prometheus.api("rules")["groups"]
            for rule in group["rules"]
            if rule["health"] != "ok"
        ]
        exported = {
            name: sorted({series["metric"]["job"] for series in prometheus.query(f"count by (job) ({name})")})
            for name in FEATURE_SERIES
        }
    finally:
        traffic.stop()
        orders.stop()
        quiet.stop()
        if prometheus is not None:
            prometheus.stop()
    assert seen == {}
    assert watchdog_states == {"firing"}
    assert unhealthy == []
    assert exported == {
        "resilience_circuit_state": ["orders"],
        "db_client_connection_count": ["orders"],
        "db_client_connection_max": ["orders"],
        "resilience_outbox_relay_last_heartbeat_timestamp_seconds": ["orders"],
        "resilience_outbox_oldest_pending_age_seconds": ["orders"],
        "resilience_health_checks_total": ["orders"],
        "resilience_retry_calls_total": ["orders"],
        "resilience_dependency_operations_total": ["orders"],
        "http_server_request_duration_seconds_count": ["orders", "quiet"],
    }
    failures = [r for r in traffic.requests if r.status >= 500]
    assert failures == []
