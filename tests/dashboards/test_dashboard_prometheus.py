"""Proven with data: a real Prometheus scrapes an instrumented app, and every panel query answers.

The app records every catalog metric through the foundation (``telemetry.setup`` ->
``Instruments``, ``telemetry.record`` for the retry events, a scrape-time collector built with
``telemetry.metrics.family``), inside spans so that histograms carry trace exemplars.
Prometheus (Debian's package) scrapes it every second on loopback; then each panel expression,
with the dashboard variables substituted as Grafana would, must return at least one series, and
the latency panels must find exemplars.
"""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from dashboard_support import substitute

import telemetry
from telemetry import catalog, dashboards
from telemetry.catalog import Kind, MetricSpec
from telemetry.events import RetryExhausted, RetryScheduled, RetrySucceeded
from telemetry.metrics import Instruments, family
from telemetry.rules import RulesConfig, render
from telemetry.testing import in_memory_tracer
from tests.conftest import require

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SERVICE = "demo"
RATE_INTERVAL = "5s"  # Grafana's $__rate_interval for a 1 s scrape interval: 4 x scrape, rounded up
# Values for open labels where a panel filters on them; other open labels get one sample value.
OPEN_VALUES = {"http.response.status_code": ("200", "503"), "http.request.method": ("GET",)}
DEADLINE = 45.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _combinations(spec: MetricSpec, m: Instruments) -> list[tuple[str, ...]]:
    """Every combination of closed label values, with sample values for the open labels."""
    choices = []
    for label in spec.labels:
        values = label.values or OPEN_VALUES.get(label.name, (f"sample-{label.prom}",))
        choices.append(tuple(m.admit(label, value) for value in values) if label.values is None else values)
    return list(itertools.product(*choices))


class ScrapeTimeSamples:
    """A custom collector for every scrape-time catalog metric (one-hot state, pool gauges,
    outbox backlog, DLQ depth ...), built the way integrations build theirs."""

    def __init__(self, m: Instruments) -> None:
        self.specs = [spec for spec in catalog.CATALOG if spec.scrape_time]
        self.m = m
        self.started = time.monotonic()

    def collect(self) -> Iterator[Any]:
        for spec in self.specs:
            metric = family(spec)
            value = time.monotonic() - self.started if spec.kind is Kind.COUNTER else 1.0
            for values in _combinations(spec, self.m):
                metric.add_metric(list(values), value)
            yield metric


def _record_once(m: Instruments, tracer: Any) -> None:
    """One round of every event-driven metric, inside a span so exemplars carry its trace id."""
    with tracer.start_as_current_span("drill"):
        telemetry.record(RetryScheduled(retry_name="orders.fetch", attempt=1, delay=0.1, caused_by=TimeoutError()))
        telemetry.record(RetrySucceeded(retry_name="orders.fetch", attempts=2, waited=0.1))
        telemetry.record(RetryExhausted(retry_name="orders.fetch", attempts=3, waited=0.3, caused_by=OSError()))
        for spec in catalog.CATALOG:
            if spec.scrape_time:
                continue
            for values in _combinations(spec, m):
                if spec.kind is Kind.COUNTER:
                    m.inc(spec, *values)
                elif spec.kind is Kind.HISTOGRAM:
                    buckets = spec.buckets or (1.0,)
                    m.observe(spec, buckets[len(buckets) // 2], *values)
                else:
                    is_timestamp = spec is catalog.OUTBOX_RELAY_HEARTBEAT
                    m.set(spec, time.time() if is_timestamp else 1.0, *values)


def _get(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def _ready(base: str) -> bool:
    with urllib.request.urlopen(f"{base}/-/ready", timeout=5) as response:
        return bool(response.status == 200)


def _wait(predicate: Any, what: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[tuple[str, float]]:
    """An instrumented app recording continuously, scraped by a real Prometheus; yields the
    Prometheus base URL and the test's deadline. Everything is stopped in a finally."""
    binary = shutil.which("prometheus")
    require(binary is not None, "prometheus (Debian package `prometheus`)")
    assert binary is not None
    from prometheus_client import CollectorRegistry, start_http_server

    deadline = time.monotonic() + DEADLINE
    registry = CollectorRegistry()
    provider, _ = in_memory_tracer()
    quiet = {event.name: "off" for event in (RetryScheduled, RetrySucceeded, RetryExhausted)}
    tel = telemetry.setup(service_name=SERVICE, registry=registry, tracer_provider=provider, log_levels=quiet)
    tel.instruments.register(ScrapeTimeSamples(tel.instruments))
    tracer = provider.get_tracer("dashboard-drill")
    app_port, prom_port = _free_port(), _free_port()
    server, _thread = start_http_server(app_port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()

    def record_forever() -> None:
        while not stop.is_set():
            _record_once(tel.instruments, tracer)
            stop.wait(0.2)

    recorder = threading.Thread(target=record_forever, daemon=True)
    recorder.start()
    # the recording rules the SLO panels read, generated from the same (default) config
    rule_files = []
    for path, text in render(RulesConfig()).items():
        if path.name.endswith(".rules.yml"):
            (tmp_path / path.name).write_text(text, encoding="utf-8")
            rule_files.append(str(tmp_path / path.name))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
        "rule_files": rule_files,
        "scrape_configs": [
            {
                "job_name": SERVICE,
                "static_configs": [{"targets": [f"127.0.0.1:{app_port}"], "labels": {"service": SERVICE}}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(json.dumps(config), encoding="utf-8")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            "--enable-feature=exemplar-storage",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield f"http://127.0.0.1:{prom_port}", deadline
    finally:
        stop.set()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()
        server.shutdown()
        server.server_close()
        recorder.join(timeout=5)


@pytest.mark.slow
def test_every_panel_query_returns_series_from_a_real_prometheus(drill: tuple[str, float]) -> None:
    """With the app recording every kind of event, each panel query of each dashboard returns at
    least one series, and every latency panel finds trace exemplars: no panel is empty in an incident."""
    base, deadline = drill
    _wait(lambda: _ready(base), "Prometheus to be ready", deadline)

    def enough_samples() -> bool:
        query = f'count_over_time({catalog.TELEMETRY_INFO.prom}{{service="{SERVICE}"}}[{RATE_INTERVAL}])'
        result = _get(base, "/api/v1/query", query=query)["data"]["result"]
        return bool(result) and float(result[0]["value"][1]) >= 4

    _wait(enough_samples, "four scrapes of the app", deadline)
    empty = []
    exprs = dashboards.expressions()
    for expr in exprs:
        query = substitute(expr, rate_interval=RATE_INTERVAL, service=SERVICE)
        answer = _get(base, "/api/v1/query", query=query)
        assert answer["status"] == "success", query
        if not answer["data"]["result"]:
            empty.append(query)
    assert empty == []

    now = time.time()
    latency = [
        query.expr
        for board in dashboards.boards()
        for row in board.rows
        for panel in row.panels
        for query in panel.queries
        if query.exemplar
    ]
    assert latency
    missing = []
    for expr in latency:
        query = substitute(expr, rate_interval=RATE_INTERVAL, service=SERVICE)
        found = _get(base, "/api/v1/query_exemplars", query=query, start=str(now - 60), end=str(now + 1))["data"]
        trace_ids = {e["labels"].get("trace_id") for series in found for e in series["exemplars"]}
        if not trace_ids - {None}:
            missing.append(expr)
    assert missing == []
    assert time.monotonic() < deadline
