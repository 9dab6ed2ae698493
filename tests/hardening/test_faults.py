"""Faults in the telemetry pipeline never reach the business call.

OTLP endpoint down, hanging or answering 500; every sink raising; structlog misconfigured by
the service; a scrape while the service is under load.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import telemetry
from telemetry import export
from telemetry.events import RetryExhausted, RetryScheduled
from telemetry.metrics import Instruments
from telemetry.testing import RaisingSink, eventually, in_memory_tracer

from .conftest import reset_logging

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def dead_port(mode: str) -> Iterator[int]:
    """A loopback port where a service is ``down`` (nothing listens) or ``hangs`` (connections
    are accepted and never answered, as behind a network partition)."""
    if mode == "down":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield port
        return
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        listener.close()


@contextlib.contextmanager
def otlp_endpoint(mode: str) -> Iterator[str]:
    """A loopback OTLP/HTTP endpoint that is ``down``, ``hangs`` or answers ``500`` to everything."""
    if mode in ("down", "hangs"):
        with dead_port(mode) as port:
            yield f"http://127.0.0.1:{port}/v1/traces"
        return

    class Failing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    finally:
        server.shutdown()
        server.server_close()


def ping_app() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        telemetry.record(RetryScheduled(retry_name="db", attempt=1, delay=0.0))
        return {"ok": "yes"}

    return app


@pytest.mark.parametrize("mode", ["down", "hangs", "500"])
async def test_otlp_endpoint_faults_keep_latency_bounded_and_count_every_lost_span(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With the collector down, hanging or failing, every request answers fast, and every span
    that never reached it is counted in resilience_telemetry_export_dropped_total (no log flood)."""
    registry = CollectorRegistry()
    instruments = Instruments(registry)
    ended = InMemorySpanExporter()
    provider = TracerProvider()
    with otlp_endpoint(mode) as endpoint:
        processor = export.span_processor(
            # An export blocks up to 1.5 s: a request that waited on it would take that long.
            OTLPSpanExporter(endpoint=endpoint, timeout=1.5),
            instruments,
            max_queue_size=16,
            max_export_batch_size=16,
            schedule_delay_millis=50,
        )
        provider.add_span_processor(processor)
        provider.add_span_processor(SimpleSpanProcessor(ended))
        app = ping_app()
        telemetry.instrument(app, registry=CollectorRegistry(), tracer_provider=provider)
        slowest = 0.0
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            for _ in range(150):
                started = time.perf_counter()
                response = await client.get("/ping")
                slowest = max(slowest, time.perf_counter() - started)
                assert response.status_code == 200
        started = time.perf_counter()
        provider.shutdown()
        shutdown = time.perf_counter() - started
    dropped = {
        reason: registry.get_sample_value(
            "resilience_telemetry_export_dropped_total", {"signal": "traces", "reason": reason}
        )
        or 0.0
        for reason in ("queue_full", "export_failed")
    }
    # Generous for a loaded 2-core machine, far below one export timeout.
    assert slowest < 1.0, f"slowest request took {slowest:.3f}s"
    assert shutdown < 10, f"shutdown took {shutdown:.1f}s"
    assert dropped["queue_full"] + dropped["export_failed"] == len(ended.get_finished_spans())
    assert dropped["export_failed"] >= 16  # at least one whole batch was tried and lost
    queue_warnings = [r for r in caplog.records if "Queue full" in r.getMessage()]
    assert queue_warnings == []


def test_bootstrap_installs_counting_processor_from_standard_env(tmp_path: Path) -> None:
    """setup() with OTEL_EXPORTER_OTLP_ENDPOINT on a dead port: the service answers, and the lost
    spans show up in the self-metric on /metrics (a fresh process, so the global provider is free)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = tmp_path / "svc.py"
    script.write_text(
        """
import asyncio, json, httpx
from fastapi import FastAPI
import telemetry

app = FastAPI()

@app.get("/ping")
async def ping():
    return {"ok": "yes"}

result = telemetry.instrument(app)

async def main():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        codes = [(await client.get("/ping")).status_code for _ in range(40)]
        result.shutdown()
        metrics = (await client.get("/metrics")).text
    print(json.dumps({"codes": codes, "metrics": metrics}))

asyncio.run(main())
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["codes"] == [200] * 40
    lost = {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(result["metrics"])
        for sample in family.samples
        if sample.name == "resilience_telemetry_export_dropped_total" and sample.labels["signal"] == "traces"
    }
    # One server span per request (ASGI receive/send sub-spans are excluded), every one lost.
    assert lost.get("export_failed", 0) + lost.get("queue_full", 0) == 40


class Boom(Exception):
    pass


async def test_every_sink_failing_changes_no_answer(caplog: pytest.LogCaptureFixture) -> None:
    """Metrics, trace and log sinks all raising on every event: same answers, errors counted per
    sink, one warning per sink and exception type (no log flood)."""
    app = FastAPI()

    @app.get("/work/{n}")
    async def work(n: int) -> dict[str, int]:
        telemetry.record(RetryScheduled(retry_name="db", attempt=n, delay=0.0))
        telemetry.record(RetryExhausted(retry_name="db", attempts=n, caused_by=TimeoutError()))
        return {"n": n}

    registry = CollectorRegistry()
    provider, _ = in_memory_tracer()
    result = telemetry.instrument(app, registry=registry, tracer_provider=provider)

    broken = [RaisingSink("metrics", Boom), RaisingSink("trace", Boom)]
    result.recorder.sinks = [*broken, *result.recorder.sinks, RaisingSink("audit", Boom)]
    structlog.configure(processors=[])  # the LogSink now raises TypeError on every event
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            answers = [(await client.get(f"/work/{n}")).json() for n in range(25)]
    finally:
        reset_logging()
    assert answers == [{"n": n} for n in range(25)]
    errors = {
        sink: registry.get_sample_value("resilience_telemetry_sink_errors_total", {"sink": sink})
        for sink in ("metrics", "trace", "log", "audit")
    }
    # 50 events; each failing sink is counted under its own name, the custom one included.
    assert errors == {"metrics": 50.0, "trace": 50.0, "log": 50.0, "audit": 50.0}
    warnings = [r.getMessage().split(" failed")[0] for r in caplog.records if r.name == "telemetry"]
    assert sorted(warnings) == [
        "telemetry sink 'audit'",
        "telemetry sink 'log'",
        "telemetry sink 'metrics'",
        "telemetry sink 'trace'",
    ]


@pytest.mark.parametrize(
    "configure",
    [
        pytest.param(lambda: structlog.configure(processors=[]), id="no-processors"),
        pytest.param(
            lambda: structlog.configure(processors=[lambda *_: (_ for _ in ()).throw(RuntimeError("bad"))]),
            id="raising-processor",
        ),
        pytest.param(lambda: structlog.configure(processors=[lambda *_: None]), id="processor-returns-none"),
        pytest.param(
            lambda: structlog.configure(
                processors=[structlog.processors.JSONRenderer()], logger_factory=lambda *_: object()
            ),
            id="logger-without-methods",
        ),
    ],
)
async def test_structlog_misconfigured_by_the_service(configure: Any) -> None:
    """Whatever structlog configuration the service made, resilience events and unhandled errors
    still answer as they would without telemetry (200 and the 500 envelope)."""
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        telemetry.record(RetryExhausted(retry_name="db", attempts=3, caused_by=TimeoutError()))
        return {"ok": "yes"}

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("down")

    registry = CollectorRegistry()
    provider, _ = in_memory_tracer()
    telemetry.instrument(app, registry=registry, tracer_provider=provider)
    configure()
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok_response = await client.get("/ok", headers={"X-Correlation-ID": "c-1"})
            crash_response = await client.get("/crash", headers={"X-Correlation-ID": "c-2"})
    finally:
        reset_logging()
    assert (ok_response.status_code, ok_response.json()) == (200, {"ok": "yes"})
    assert (crash_response.status_code, crash_response.json()) == (
        500,
        {"error": "internal_error", "correlation_id": "c-2"},
    )
    assert registry.get_sample_value("resilience_retry_calls_total", {"retry_name": "db", "outcome": "exhausted"}) == 1


def test_scrape_under_heavy_load_answers_within_timeout() -> None:
    """A real server under load from 4 client threads (events with ever-new names): every scrape
    answers within 2 s, parses, and the series count stays bounded by the label cap."""
    import uvicorn

    app = FastAPI()

    @app.get("/load/{i}")
    def load(i: int) -> dict[str, int]:
        telemetry.record(RetryScheduled(retry_name=f"op-{i}", attempt=1, delay=0.0, caused_by=ValueError()))
        return {"i": i}

    registry = CollectorRegistry()
    provider, _ = in_memory_tracer()
    telemetry.instrument(app, registry=registry, tracer_provider=provider, label_cap=50)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    eventually(lambda: server.started, timeout=10, interval=0.02, what="uvicorn started")
    stop = threading.Event()
    sent = [0] * 4

    def hammer(worker: int) -> None:
        with httpx.Client(base_url=base, timeout=5) as client:
            i = worker * 100_000
            while not stop.is_set():
                client.get(f"/load/{i}")
                i += 1
                sent[worker] += 1

    loaders = [threading.Thread(target=hammer, args=(w,), daemon=True) for w in range(4)]
    for loader in loaders:
        loader.start()
    scrape_times = []
    try:
        with httpx.Client(base_url=base, timeout=2) as scraper:
            for _ in range(10):
                started = time.perf_counter()
                response = scraper.get("/metrics")
                scrape_times.append(time.perf_counter() - started)
                assert response.status_code == 200
                families = {f.name for f in text_string_to_metric_families(response.text)}
                assert "resilience_retry_scheduled" in families
                time.sleep(0.05)
    finally:
        stop.set()
        for loader in loaders:
            loader.join(5)
        server.should_exit = True
        thread.join(5)
    assert sum(sent) > 100
    assert max(scrape_times) < 2
    retry_names = {
        sample.labels["retry_name"]
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "resilience_retry_scheduled_total"
    }
    assert len(retry_names) == 51  # 50 admitted names + _OTHER
    logging.getLogger(__name__).info("scrapes under load: max %.3fs", max(scrape_times))


@pytest.mark.parametrize("mode", ["down", "hangs"])
async def test_database_and_broker_gone_under_the_collectors(mode: str) -> None:
    """The outbox table's database and the DLQ broker unreachable (refused, or accepting and never
    answering): requests answer, each scrape returns within the collectors' timeout with the
    stale flags at 1, and the last good DLQ reading is still served."""
    from telemetry.dlq import QueueStats, rabbitmq_queue_stats, watch_dead_letter_queues
    from telemetry.outbox.backlog import watch_outbox

    registry = CollectorRegistry()
    provider, _ = in_memory_tracer()
    app = ping_app()
    result = telemetry.instrument(app, registry=registry, tracer_provider=provider)
    broker_up = threading.Event()
    broker_up.set()
    with dead_port(mode) as port:
        watch_outbox(
            f"postgresql+psycopg://app:pw@127.0.0.1:{port}/orders?connect_timeout=20",
            telemetry=result,
            timeout=0.5,
            min_interval=0.0,
        )
        broken = rabbitmq_queue_stats(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=5)

        def reader(queues: Any) -> dict[str, QueueStats]:
            # The first reading succeeds; then the broker is gone (refusing, or silent).
            return {queue: QueueStats(depth=7) for queue in queues} if broker_up.is_set() else broken(queues)

        watch_dead_letter_queues(["orders.dlq"], read=reader, telemetry=result, timeout=0.5, min_interval=0.0)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            first = await client.get("/metrics")
            broker_up.clear()
            scrape_times, codes = [], []
            for _ in range(3):
                started = time.perf_counter()
                scrape = await client.get("/metrics")
                scrape_times.append(time.perf_counter() - started)
                codes.append((await client.get("/ping")).status_code)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scrape.text)
        for s in family.samples
    }
    assert first.status_code == scrape.status_code == 200
    assert codes == [200, 200, 200]
    assert max(scrape_times) < 2.5, scrape_times
    assert samples[("resilience_outbox_backlog_stale", (("outbox_table", "outbox"),))] == 1.0
    assert samples[("resilience_dlq_stats_stale", (("queue", "orders.dlq"),))] == 1.0
    assert samples[("resilience_dlq_depth", (("queue", "orders.dlq"),))] == 7.0
