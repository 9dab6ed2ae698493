"""Shutdown is bounded and set-up is atomic (issue 15, findings 4 and 5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram

import telemetry
from telemetry.bootstrap import SHUTDOWN_TIMEOUT, current
from telemetry.events import RetryScheduled
from telemetry.metrics import MetricCollisionError

from .test_faults import dead_port

ROOT = Path(__file__).resolve().parents[2]

SERVICE = """
import json, logging, time
import telemetry
from telemetry.events import RetryScheduled

result = telemetry.setup(service_name="orders")
tracer = result.tracer_provider.get_tracer("t")
for i in range(50):
    with tracer.start_as_current_span(f"work-{i}"):
        telemetry.record(RetryScheduled(retry_name="db", attempt=1, delay=0.0))
        logging.getLogger("orders").warning("line %d", i)
started = time.perf_counter()
result.shutdown()
print(json.dumps({"shutdown": time.perf_counter() - started}), flush=True)
"""


def test_shutdown_with_an_endpoint_that_accepts_and_never_answers_is_bounded(tmp_path: Path) -> None:
    """Traces, logs and metrics all exported to an OTLP endpoint that accepts connections and never
    answers: shutdown() returns within its one overall deadline (SHUTDOWN_TIMEOUT), and the
    process exits soon after (the SDK's exit hooks do not hang again)."""
    script = tmp_path / "svc.py"
    script.write_text(SERVICE, encoding="utf-8")
    with dead_port("hangs") as port:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.pop("OTEL_EXPORTER_OTLP_TIMEOUT", None)  # the default 10 s per export attempt
        done = subprocess.run(
            [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, check=False
        )
    assert done.returncode == 0, done.stderr
    shutdown = json.loads(done.stdout.splitlines()[-1])["shutdown"]
    assert shutdown < SHUTDOWN_TIMEOUT + 1.0, f"shutdown took {shutdown:.1f}s"


def test_setup_failing_on_a_colliding_metric_leaves_nothing_registered_and_can_be_retried() -> None:
    """The service registered http_server_request_duration_seconds itself: setup() fails naming
    that metric and leaves the registry exactly as it was; after the fix, setup() works."""
    registry = CollectorRegistry()
    own = Histogram("http_server_request_duration_seconds", "the service's own", registry=registry)
    before = sorted(registry._names_to_collectors)
    with pytest.raises(MetricCollisionError, match="http_server_request_duration_seconds"):
        telemetry.setup(registry=registry, service_name="orders")
    assert sorted(registry._names_to_collectors) == before
    assert current() is None
    registry.unregister(own)  # the fix: the service drops its own copy
    result = telemetry.setup(registry=registry, service_name="orders")
    telemetry.record(RetryScheduled(retry_name="db", attempt=1, delay=0.0))
    assert result.registry is registry
    assert registry.get_sample_value("resilience_retry_scheduled_total", {"retry_name": "db", "error_type": ""}) == 1.0
