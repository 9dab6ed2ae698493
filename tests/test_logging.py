"""Structured logs: trace/span/correlation IDs on every line, secrets masked."""

from __future__ import annotations

import io
import json
import logging
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
