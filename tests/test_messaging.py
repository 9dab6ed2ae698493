"""telemetry.messaging: what messages carry (x-death bookkeeping, trace links, addressing)."""

from __future__ import annotations

from datetime import datetime, timezone

from telemetry.messaging import (
    Death,
    delivery_count,
    links_from,
    parse_x_death,
    queue_destination,
    split_destination,
    without_broker_headers,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_x_death_and_delivery_count_parsing() -> None:
    """x-death keeps the broker's newest-first order; bytes are decoded; times become Unix time."""
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    headers = {
        "x-death": [
            {"queue": b"q2", "reason": b"maxlen", "count": 1, "time": when, "routing-keys": [b"rk"]},
            {"queue": "q1", "reason": "delivery_limit", "count": 4, "exchange": "ex"},
        ],
        "x-delivery-count": 2,
    }
    assert parse_x_death(headers) == (
        [
            Death(queue="q2", reason="maxlen", count=1, routing_keys=("rk",), time=when.timestamp()),
            Death(queue="q1", reason="delivery_limit", count=4, exchange="ex"),
        ],
        False,
    )
    assert delivery_count(headers) == (2, False)
    assert delivery_count({"x-delivery-count": True}) == (None, True)
    assert parse_x_death(None) == ([], False)


def test_links_from_headers() -> None:
    """A valid creation traceparent becomes one link; garbage and missing headers give none."""
    links = links_from({"traceparent": TRACEPARENT, "x-producer-traceparent": "garbage"})
    assert [(format(link.context.trace_id, "032x"), dict(link.attributes or {})) for link in links] == [
        ("0af7651916cd43dd8448eb211c80319c", {"resilience.link.kind": "creation"})
    ]
    assert links_from(None) == []
    assert links_from({"traceparent": "00-zz"}) == []


def test_destinations_and_broker_headers() -> None:
    """``exchange:key`` and bare queue names; broker-owned headers are dropped, others kept."""
    assert split_destination("orders:order.created") == ("orders", "order.created")
    assert split_destination("amq.default:q") == ("", "q")
    assert split_destination("orders.created") == ("", "orders.created")
    assert queue_destination("a:b") == ":a:b"
    assert queue_destination("q") == "q"
    assert without_broker_headers(
        {"x-death": [], "x-delivery-count": 1, "x-first-death-queue": "q", "x-correlation-id": "c", "app": 1}
    ) == {"x-correlation-id": "c", "app": 1}
