"""The hot paths made cheaper for the performance budgets still do exactly what they did:
the same correlation-ID format, baggage on outgoing calls, one middleware layer, exemplars on
the same buckets, suppression honoured by the breaker's success count."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from telemetry import catalog, correlation
from telemetry.metrics import Instruments
from telemetry.testing import capture, in_memory_tracer


def test_fresh_correlation_ids_keep_uuid4_hex_format() -> None:
    """Generated IDs are what ``uuid.uuid4().hex`` gives: 32 lowercase hex digits with the
    version-4 and RFC 4122 variant bits, all different."""
    ids = [correlation.new_correlation_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", value)
        parsed = uuid.UUID(hex=value)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, value)


def test_one_middleware_layer_binds_echoes_and_propagates_in_baggage() -> None:
    """``instrument_app`` adds one ASGI layer of ours; inside a request the correlation ID is
    bound, echoed, on the server span, and in the W3C baggage of an outgoing call, and gone
    after the request."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from opentelemetry import propagate

    import telemetry
    from telemetry.integrations.fastapi import HttpServerMiddleware, instrument_app

    provider, exporter = in_memory_tracer()
    app = FastAPI()
    outgoing: dict[str, str] = {}

    @app.get("/orders/{order_id}")
    async def read(order_id: int) -> dict[str, Any]:
        propagate.inject(outgoing)
        return {"id": order_id, "seen": correlation.get_correlation_id()}

    with capture():
        set_up = telemetry.setup(service_name="pg-hot", tracer_provider=provider, registry=CollectorRegistry())
        instrument_app(app, telemetry=set_up)
        ours = [m.cls for m in app.user_middleware if m.cls.__module__.startswith("telemetry")]
        assert ours == [HttpServerMiddleware]  # the access check is a lookup inside it
        with TestClient(app) as client:
            response = client.get("/orders/3", headers={"X-Correlation-ID": "pg-hot-1"})
    assert response.json() == {"id": 3, "seen": "pg-hot-1"}
    assert response.headers["x-correlation-id"] == "pg-hot-1"
    assert outgoing["baggage"] == "correlation_id=pg-hot-1"
    [server] = [span for span in exporter.get_finished_spans() if span.kind.name == "SERVER"]
    assert server.attributes is not None
    assert server.attributes["resilience.correlation_id"] == "pg-hot-1"
    assert correlation.get_correlation_id() is None
    outside: dict[str, str] = {}
    propagate.inject(outside)
    assert "baggage" not in outside


@pytest.mark.parametrize("value", [0.0, 0.005, 0.1, 0.25, 7.0, 1e9, -1.0])
def test_exemplar_fast_path_fills_the_same_buckets_as_the_client(value: float) -> None:
    """With a span current, ``observe`` and ``inc`` give the same exposition as
    prometheus-client's own ``observe(v, exemplar)`` / ``inc(a, exemplar)``, exemplars included."""
    from prometheus_client.openmetrics.exposition import generate_latest

    from telemetry.metrics import current_exemplar

    provider, _ = in_memory_tracer()
    ours, theirs = Instruments(CollectorRegistry()), Instruments(CollectorRegistry())
    with provider.get_tracer("t").start_as_current_span("op"):
        ours.observe(catalog.RETRY_BACKOFF, value, retry_name="orders_db")
        ours.inc(catalog.RETRY_CALLS, retry_name="orders_db", outcome="success_first_attempt", amount=2)
        exemplar = current_exemplar()
        theirs.child(catalog.RETRY_BACKOFF, "orders_db").observe(value, exemplar)
        theirs.child(catalog.RETRY_CALLS, "orders_db", "success_first_attempt").inc(2, exemplar)

    def exposition(m: Instruments) -> list[str]:
        # Exemplar timestamps differ by the microseconds between the two calls.
        lines = generate_latest(m.registry).decode().splitlines()
        return [re.sub(r"( # \{.*\} \S+) \S+$", r"\1", line) for line in lines if "_created" not in line]

    assert exposition(ours) == exposition(theirs)
    assert any("trace_id=" in line for line in exposition(ours))


def test_counting_outside_a_trace_gives_the_clients_exposition_and_errors() -> None:
    """Outside a trace ``inc`` updates the bound child directly: the same exposition as the
    client's ``inc``, a negative amount still refused by the client, and a child without the
    internals the shortcut expects is counted through the public call."""
    from prometheus_client import generate_latest

    ours, theirs = Instruments(CollectorRegistry()), Instruments(CollectorRegistry())
    ours.inc(catalog.RETRY_CALLS, "orders_db", "success_first_attempt")
    ours.inc(catalog.RETRY_CALLS, retry_name="orders_db", outcome="success_first_attempt", amount=2.5)
    theirs.child(catalog.RETRY_CALLS, "orders_db", "success_first_attempt").inc(3.5)

    def exposition(m: Instruments) -> list[str]:
        return [line for line in generate_latest(m.registry).decode().splitlines() if "_created" not in line]

    assert exposition(ours) == exposition(theirs)
    assert 'resilience_retry_calls_total{outcome="success_first_attempt",retry_name="orders_db"} 3.5' in exposition(
        ours
    )
    with pytest.raises(ValueError, match="negative"):
        ours.inc(catalog.RETRY_CALLS, "orders_db", "success_first_attempt", amount=-1)

    class PublicOnly:
        def __init__(self) -> None:
            self.calls: list[float] = []

        def inc(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
            self.calls.append(amount)

    child = PublicOnly()
    ours._children[(catalog.RETRY_CALLS, ("x", "success"))] = child
    ours.inc(catalog.RETRY_CALLS, "x", "success", amount=4)
    assert child.calls == [4]


def test_breaker_success_not_counted_inside_suppressed_instrumentation() -> None:
    """A closed-state success is counted, except inside ``suppress_instrumentation()``."""
    pybreaker = pytest.importorskip("pybreaker")
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    from telemetry.integrations.pybreaker import instrument_breaker

    with capture() as cap:
        cb = instrument_breaker(pybreaker.CircuitBreaker(name="pg_hot_payments"))
        cb.call(lambda: "paid")
        with suppress_instrumentation():
            cb.call(lambda: "paid")
        cb.call(lambda: "paid")
        counted = cap.sample("resilience_circuit_calls_total", breaker_name="pg_hot_payments", outcome="success")
    assert counted == 2.0


def test_no_baggage_from_a_correlation_id_bound_outside_a_request() -> None:
    """A correlation ID bound outside an HTTP request (a consumer, an outbox relay) is not
    added to outgoing baggage: only requests the middleware serves carry it, as before."""
    from opentelemetry import propagate

    from telemetry.integrations.fastapi import CorrelationIdMiddleware

    async def app(_scope: Any, _receive: Any, _send: Any) -> None:
        return None

    CorrelationIdMiddleware(app)  # installs the baggage-on-injection propagator
    with correlation.bound("pg-consumer-1"):
        carrier: dict[str, str] = {}
        correlation.inject(carrier)
    assert "baggage" not in carrier
    assert carrier["x-correlation-id"] == "pg-consumer-1"
    assert propagate.get_global_textmap() is not None


async def test_repeated_correlation_header_keeps_its_first_valid_value() -> None:
    """Of a repeated X-Correlation-ID header the first valid value wins (a dict of the headers
    would keep the last one and throw a valid first one away)."""
    from telemetry.integrations.fastapi import CorrelationIdMiddleware

    sent: list[dict[str, Any]] = []

    async def app(_scope: Any, _receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"x-correlation-id", b"not valid!"),
        (b"x-correlation-id", b"first-1"),
        (b"x-correlation-id", b"last-2"),
    ]
    await CorrelationIdMiddleware(app)({"type": "http", "headers": headers}, receive, send)
    assert sent[0]["headers"] == [(b"x-correlation-id", b"first-1")]
