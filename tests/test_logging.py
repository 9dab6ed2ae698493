"""Structured logs: trace/span/correlation IDs on every line, secrets masked."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from telemetry import correlation
from telemetry.logging import configure_logging
from telemetry.redaction import Redactor, redact_text
from telemetry.testing import in_memory_tracer
from telemetry.testing import json_logs as capture_json_logs


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    with capture_json_logs(service="orders") as logs:
        yield logs.stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_structlog_and_stdlib_lines_carry_ids(json_logs: io.StringIO) -> None:
    """Both structlog and stdlib records render as JSON with trace, span and correlation IDs."""
    provider, _ = in_memory_tracer()
    with correlation.bound("corr-9"), provider.get_tracer("t").start_as_current_span("op") as span:
        structlog.get_logger("app").info("order.created", order_id=7)
        logging.getLogger("lib").warning("stdlib says %s", "hi")
        ctx = span.get_span_context()
    first, second = lines(json_logs)
    ids = {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}", "correlation_id": "corr-9"}
    assert {k: first[k] for k in (*ids, "event", "level", "logger", "service", "order_id")} == {
        **ids,
        "event": "order.created",
        "level": "info",
        "logger": "app",
        "service": "orders",
        "order_id": 7,
    }
    assert {k: second[k] for k in (*ids, "event", "level", "logger", "service")} == {
        **ids,
        "event": "stdlib says hi",
        "level": "warning",
        "logger": "lib",
        "service": "orders",
    }
    assert "timestamp" in first


def test_no_ids_outside_request(json_logs: io.StringIO) -> None:
    """Outside a span and request, no empty or fake IDs are added."""
    structlog.get_logger("app").info("boot")
    [line] = lines(json_logs)
    assert "trace_id" not in line
    assert "correlation_id" not in line


def test_secrets_masked_in_fields_urls_and_tracebacks(json_logs: io.StringIO) -> None:
    """Secret keys at any depth, DSN passwords and secrets in exception text are masked."""
    log = structlog.get_logger("app")
    log.info(
        "connect",
        dsn="postgresql://app:s3cr3t-pw@db:5432/orders",
        password="hunter2",
        headers={"Authorization": "Bearer abcdefghijkl", "accept": "json"},
        nested=[{"api_key": "AKIA123"}],
    )
    try:
        raise RuntimeError("login failed for token=tok-SECRET-1 at amqp://guest:guest-pw@mq/")
    except RuntimeError:
        log.exception("failed")
    text = json_logs.getvalue()
    for secret in ("s3cr3t-pw", "hunter2", "abcdefghijkl", "AKIA123", "tok-SECRET-1", "guest-pw"):
        assert secret not in text
    first, second = lines(json_logs)
    assert first["dsn"] == "postgresql://app:***@db:5432/orders"
    assert first["headers"] == {"Authorization": "***", "accept": "json"}
    assert first["nested"] == [{"api_key": "***"}]
    assert "RuntimeError" in second["exception"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("password=abc&user=x", "password=***&user=x"),
        ("token: 'a b c'", "token: '***'"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: ***"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    """Credentials embedded in free text are masked, other text is untouched."""
    assert redact_text(text) == expected


def test_redactor_leaves_safe_fields() -> None:
    """Fields without secrets pass through unchanged."""
    event = {"event": "x", "count": 3, "items": ["a"], "user": "bob"}
    assert Redactor()(None, "info", dict(event)) == event


def test_configure_twice_installs_one_handler(json_logs: io.StringIO) -> None:
    """Calling configure_logging again replaces its handler instead of adding one."""
    configure_logging(service="orders", stream=json_logs)
    handlers = [h for h in logging.getLogger().handlers if h.get_name() == "telemetry-json"]
    assert len(handlers) == 1
    logging.getLogger("x").warning("once")
    assert [line["event"] for line in lines(json_logs)] == ["once"]


ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_structlog_line_is_exactly_these_fields(json_logs: io.StringIO) -> None:
    """A structlog line inside a span and a request: the call's fields plus the IDs, level,
    logger, service and an ISO-8601 UTC timestamp, nothing else."""
    provider, _ = in_memory_tracer()
    with correlation.bound("pg-corr-1"), provider.get_tracer("t").start_as_current_span("op") as span:
        structlog.get_logger("orders.api").warning("order.delayed", order_id=7, reason="stock")
        ctx = span.get_span_context()
    [line] = lines(json_logs)
    assert ISO_UTC.fullmatch(line.pop("timestamp"))
    assert line == {
        "event": "order.delayed",
        "order_id": 7,
        "reason": "stock",
        "level": "warning",
        "logger": "orders.api",
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "correlation_id": "pg-corr-1",
        "service": "orders",
    }


def test_stdlib_line_has_event_only_and_keeps_extra_fields() -> None:
    """A stdlib record carries its message in ``event`` (no ``message`` copy, even after
    another formatter saw the record first), its ``extra=`` fields, and its own logger name."""
    seen_first = logging.Handler()
    seen_first.format = logging.Formatter("%(asctime)s %(message)s").format  # type: ignore[method-assign]
    seen_first.emit = lambda record: seen_first.format(record) and None  # type: ignore[method-assign]
    with capture_json_logs(service="orders") as logs:
        lib = logging.getLogger("sqlalchemy.pool.impl.QueuePool")
        lib.addHandler(seen_first)  # sets record.message and record.asctime before ours runs
        try:
            lib.warning("pool %s exhausted", "orders", extra={"pool.name": "orders", "color_message": "x"})
        finally:
            lib.removeHandler(seen_first)
        [line] = lines(logs.stream)
    assert ISO_UTC.fullmatch(line.pop("timestamp"))
    assert line == {
        "event": "pool orders exhausted",
        "pool.name": "orders",
        "level": "warning",
        "logger": "sqlalchemy.pool.impl.QueuePool",
        "service": "orders",
    }


def test_empty_fields_are_left_out(json_logs: io.StringIO) -> None:
    """``None`` and ``""`` fields are not written: a retry without an error has no
    ``error.type`` at all rather than ``"error.type": ""``."""
    from telemetry.events import RetryScheduled
    from telemetry.recorder import LogSink

    LogSink()(RetryScheduled(retry_name="orders_db", attempt=1, delay=0.5))
    [line] = [line for line in lines(json_logs) if line["event"] == "telemetry.retry.scheduled"]
    del line["timestamp"]
    assert line == {
        "event": "telemetry.retry.scheduled",
        "resilience.retry.name": "orders_db",
        "resilience.retry.attempt": 1,
        "resilience.retry.delay_s": 0.5,
        "level": "info",
        "logger": "telemetry",
        "service": "orders",
    }


def test_prior_basic_config_does_not_write_lines_twice() -> None:
    """After ``logging.basicConfig()``, each line is written once, as JSON; undoing the
    configuration gives basicConfig's handler back."""
    plain = io.StringIO()
    root = logging.getLogger()
    before = list(root.handlers)
    logging.basicConfig(stream=plain, force=True)
    try:
        with capture_json_logs(service="orders") as logs:
            logging.getLogger("orders").warning("stdlib once")
            structlog.get_logger("orders").warning("structlog once")
            assert [line["event"] for line in lines(logs.stream)] == ["stdlib once", "structlog once"]
        assert plain.getvalue() == ""
        assert [type(h) for h in root.handlers] == [logging.StreamHandler]
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in before:
            root.addHandler(handler)


def test_lines_from_both_sources_keep_their_order(json_logs: io.StringIO) -> None:
    """structlog and stdlib lines written by one thread come out in the order written."""
    for i in range(20):
        (structlog.get_logger("a").info if i % 2 else logging.getLogger("b").warning)(f"line {i}")
    assert [line["event"] for line in lines(json_logs)] == [f"line {i}" for i in range(20)]


def test_other_root_handlers_still_receive_structlog_lines(json_logs: io.StringIO) -> None:
    """A handler beside ours (the OTLP log export) still gets structlog lines, redacted, as
    records ``ProcessorFormatter`` understands."""
    received: list[dict[str, Any]] = []
    beside = logging.Handler()
    beside.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, structlog.processors.JSONRenderer()]
        )
    )
    beside.emit = lambda record: received.append(json.loads(beside.format(record)))  # type: ignore[method-assign]
    logging.getLogger().addHandler(beside)
    try:
        structlog.get_logger("app").info("login", token="tok-123", user="bob")
    finally:
        logging.getLogger().removeHandler(beside)
    # the same timestamp as the local line (an OTLP record must match it), then the same fields
    assert [set(line) - {"timestamp"} for line in received] == [
        {"event", "token", "user", "level", "logger", "service"}
    ]
    stamp = received[0].pop("timestamp")
    assert stamp == lines(json_logs)[-1]["timestamp"]
    assert received == [
        {"event": "login", "token": "***", "user": "bob", "level": "info", "logger": "app", "service": "orders"}
    ]


def test_levels_filter_structlog_and_stdlib_alike() -> None:
    """Below the configured level, neither kind of line is written."""
    with capture_json_logs(service="orders", level=logging.WARNING) as logs:
        structlog.get_logger("a").info("dropped")
        logging.getLogger("b").info("dropped too")
        structlog.get_logger("a").error("kept")
        assert [line["event"] for line in lines(logs.stream)] == ["kept"]


def test_uvicorn_log_config_routes_its_loggers_to_the_root() -> None:
    """``UVICORN_LOG_CONFIG`` gives uvicorn's loggers no handler of their own: their records
    propagate to the root logger, keeping uvicorn's names and levels."""
    import logging.config

    from telemetry.logging import UVICORN_LOG_CONFIG

    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in UVICORN_LOG_CONFIG["loggers"]
    }
    try:
        with capture_json_logs(service="orders") as logs:
            logging.config.dictConfig(UVICORN_LOG_CONFIG)
            logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)
            logging.getLogger("uvicorn.access").debug("below uvicorn's level")
            assert [(line["logger"], line["event"]) for line in lines(logs.stream)] == [
                ("uvicorn.error", "Started server process [1]")
            ]
    finally:
        for name, (handlers, propagate) in saved.items():
            logging.getLogger(name).handlers[:] = handlers
            logging.getLogger(name).propagate = propagate


UVICORN_APP = """
import logging, os, sys

if os.environ.get("PG_BASIC_CONFIG"):
    logging.basicConfig(stream=sys.stdout, level=logging.INFO)  # the common set-up, before ours

import structlog
from fastapi import FastAPI

import telemetry

telemetry.configure_logging(service="orders")
app = FastAPI()


@app.get("/orders/{order_id}")
async def read_order(order_id: int) -> dict[str, int]:
    logging.getLogger("orders.db").info("loaded order %s", order_id)
    structlog.get_logger("orders").info("order.read", order_id=order_id)
    return {"id": order_id}


telemetry.instrument(app, service_name="orders")

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=telemetry.logging.UVICORN_LOG_CONFIG)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("basic_config", [False, True], ids=["plain", "after-basicConfig"])
@pytest.mark.parametrize("launch", ["uvicorn-cli", "uvicorn.run"])
def test_real_uvicorn_writes_one_json_stream(tmp_path: Any, launch: str, basic_config: bool) -> None:
    """A real uvicorn process set up as the README says: every stdout line is one JSON object
    with the common fields, none is written twice, uvicorn's lines keep their logger names, and
    access lines carry method, route, status, duration, trace and correlation IDs."""
    import os
    import subprocess
    import sys

    import httpx

    from telemetry.testing import eventually

    (tmp_path / "pg_orders_app.py").write_text(UVICORN_APP)
    port = _free_port()
    command = {
        "uvicorn-cli": [
            sys.executable,
            "-m",
            "uvicorn",
            "pg_orders_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        "uvicorn.run": [sys.executable, "pg_orders_app.py", str(port)],
    }[launch]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path]), "OTEL_TRACES_EXPORTER": "none"}
    env.pop("PG_BASIC_CONFIG", None)
    if basic_config:
        env["PG_BASIC_CONFIG"] = "1"
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/orders/1").status_code == 200
            except httpx.TransportError:
                return server.poll() is not None  # exited: stop waiting, the asserts below say why

        eventually(up, timeout=60, what="uvicorn serving")
        assert (
            httpx.get(f"{base}/orders/7?token=tok-SECRET", headers={"X-Correlation-ID": "pg-corr-7"}).status_code == 200
        )
        assert httpx.get(f"{base}/nowhere").status_code == 404
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    raw = [line for line in out.splitlines() if line]
    parsed = [json.loads(line) for line in raw]  # every line is JSON (a plain line fails here)
    assert all(isinstance(line, dict) for line in parsed)
    for line in parsed:
        assert {"timestamp", "level", "logger", "event", "service"} <= set(line), line
        assert "message" not in line
        assert "color_message" not in line
    assert len(set(raw)) == len(raw), "a line was written twice"
    assert "tok-SECRET" not in out
    assert "INFO:" not in err  # no plain uvicorn line on stderr either
    access = [line for line in parsed if line["logger"] == "uvicorn.access"]
    assert [line["event"] for line in access] == ["GET /orders/1 200", "GET /orders/7 200", "GET /nowhere 404"]
    ours = access[1]
    assert re.fullmatch(r"[0-9a-f]{32}", ours.pop("trace_id"))
    assert re.fullmatch(r"[0-9a-f]{16}", ours.pop("span_id"))
    assert ISO_UTC.fullmatch(ours.pop("timestamp"))
    assert ours.pop("duration_ms") >= 0
    assert ours == {
        "event": "GET /orders/7 200",
        "level": "info",
        "logger": "uvicorn.access",
        "http.request.method": "GET",
        "url.path": "/orders/7",
        "http.response.status_code": 200,
        "http.route": "/orders/{order_id}",
        "correlation_id": "pg-corr-7",
        "service": "orders",
    }
    assert access[2]["http.route"] == "_UNMATCHED"
    app_lines = [(line["logger"], line["event"]) for line in parsed if line.get("correlation_id") == "pg-corr-7"]
    assert app_lines == [
        ("orders.db", "loaded order 7"),
        ("orders", "order.read"),
        ("uvicorn.access", "GET /orders/7 200"),
    ]
    lifecycle = {line["event"] for line in parsed if line["logger"] == "uvicorn.error"}
    assert "Application startup complete." in lifecycle
    assert "Shutting down" in lifecycle
