"""Correlation IDs: validated on the way in, isolated per request, carried in message headers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry import trace

from telemetry import correlation
from telemetry.correlation import extract, get_correlation_id, inject, is_valid, restored
from telemetry.integrations.fastapi import CorrelationIdMiddleware
from telemetry.testing import in_memory_tracer


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("abc-123", True),
        ("req_1.2:3", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("evil\r\nSet-Cookie: a=b", False),
        ("naïve", False),
        ("<script>", False),
        ("has space", False),
        (None, False),
        (123, False),
    ],
)
def test_validation(value: Any, valid: bool) -> None:
    """Only ^[A-Za-z0-9._:-]{1,128}$ is accepted."""
    assert is_valid(value) is valid


async def _call(headers: list[tuple[bytes, bytes]]) -> tuple[dict[str, Any], str | None]:
    seen: dict[str, Any] = {}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen["id"] = get_correlation_id()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-correlation-id", b"spoofed")]})
        await send({"type": "http.response.body", "body": b""})

    await CorrelationIdMiddleware(inner)({"type": "http", "headers": headers}, receive, send)
    start = sent[0]
    echoed = [v.decode() for k, v in start["headers"] if k == b"x-correlation-id"]
    assert len(echoed) == 1  # exactly one header, ours
    return start, seen.get("id") if seen.get("id") == echoed[0] else None


async def test_valid_header_is_kept_and_echoed() -> None:
    """A valid X-Correlation-ID is used as is and echoed once in the response."""
    _, cid = await _call([(b"x-correlation-id", b"order-42")])
    assert cid == "order-42"
    assert get_correlation_id() is None  # reset after the request


async def test_request_id_header_is_a_fallback() -> None:
    """X-Request-ID is read when X-Correlation-ID is absent."""
    _, cid = await _call([(b"x-request-id", b"req-7")])
    assert cid == "req-7"


@pytest.mark.parametrize("raw", [b"evil\r\nSet-Cookie: a=b", b"x" * 500, "na\u00efve".encode(), b"\xff\xfe", b""])
async def test_invalid_header_is_replaced(raw: bytes) -> None:
    """Injection attempts, oversized or non-ASCII values get a fresh ID instead."""
    _, cid = await _call([(b"x-correlation-id", raw)])
    assert cid is not None
    assert len(cid) == 32
    assert cid.isalnum()


async def test_missing_header_generates_one() -> None:
    """No header: a fresh ID is generated."""
    _, cid = await _call([])
    assert cid is not None
    assert is_valid(cid)


async def test_no_bleed_between_200_concurrent_requests() -> None:
    """Each concurrent request sees only its own ID, before and after awaiting."""
    observed: dict[str, list[str | None]] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        mine = dict(scope["headers"])[b"x-correlation-id"].decode()
        first = get_correlation_id()
        await asyncio.sleep(0.001)
        observed[mine] = [first, get_correlation_id()]
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = CorrelationIdMiddleware(inner)

    async def one(i: int) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request"}

        async def send(_message: Any) -> None:
            return None

        await app({"type": "http", "headers": [(b"x-correlation-id", f"c-{i}".encode())]}, receive, send)

    await asyncio.gather(*(one(i) for i in range(200)))
    assert observed == {f"c-{i}": [f"c-{i}", f"c-{i}"] for i in range(200)}


def test_inject_and_extract_round_trip() -> None:
    """inject() writes traceparent and the ID; extract() gives back the same context."""
    provider, _ = in_memory_tracer()
    tracer = provider.get_tracer("t")
    headers: dict[str, Any] = {}
    with correlation.bound("corr-1"), tracer.start_as_current_span("produce") as span:
        inject(headers)
        sent = span.get_span_context()
    assert headers["x-correlation-id"] == "corr-1"
    assert headers["traceparent"].startswith(f"00-{sent.trace_id:032x}-{sent.span_id:016x}-")
    ctx, cid = extract(headers)
    assert cid == "corr-1"
    assert trace.get_current_span(ctx).get_span_context().trace_id == sent.trace_id


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"traceparent": "garbage", "x-correlation-id": "bad id\r\n"},
        {"traceparent": b"\xff\xfe", "x-correlation-id": b"\xff"},
        {"traceparent": "00-" + "a" * 5000, "x-correlation-id": 12},
        {1: "x", "traceparent": ["list"]},
        "not a mapping",
    ],
)
def test_extract_never_raises_on_garbage(headers: Any) -> None:
    """Bad trace context or correlation headers give an empty context and no ID."""
    ctx, cid = extract(headers)
    assert cid is None
    assert not trace.get_current_span(ctx).get_span_context().is_valid


def test_restored_binds_message_id_or_fallback() -> None:
    """The consumer side binds the carried ID, else the fallback, else a fresh one."""
    with restored({"x-correlation-id": "m-1"}):
        assert get_correlation_id() == "m-1"
    with restored({"x-correlation-id": "bad id"}, fallback="amqp-prop"):
        assert get_correlation_id() == "amqp-prop"
    with restored(None) as fresh:
        assert get_correlation_id() == fresh
    assert get_correlation_id() is None


def test_bound_survives_create_task_and_threads() -> None:
    """Context copies carry the ID into tasks and to_thread calls."""

    async def main() -> list[str | None]:
        with correlation.bound("ctx-1"):
            task = asyncio.create_task(asyncio.sleep(0, result=get_correlation_id()))
            in_thread = await asyncio.to_thread(get_correlation_id)
            return [await task, in_thread]

    assert asyncio.run(main()) == ["ctx-1", "ctx-1"]
