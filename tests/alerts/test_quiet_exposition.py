"""What a service that uses no feature exports: nothing an alert can trip on."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from telemetry import catalog
from telemetry.metrics import Instruments


def _names(registry: CollectorRegistry) -> set[str]:
    return {
        line.split("{")[0].split(" ")[0]
        for line in generate_latest(registry).decode().splitlines()
        if line and not line.startswith("#")
    }


def test_no_relay_no_heartbeat_and_no_outbox_batch_histogram() -> None:
    """Without an outbox relay the heartbeat gauge (and the relay's batch-size histogram) is not
    exported at all: a heartbeat of 0 read as "last poll in 1970" paged every service without an
    outbox. The first poll creates it."""
    registry = CollectorRegistry()
    instruments = Instruments(registry)
    exported = _names(registry)
    assert catalog.OUTBOX_RELAY_HEARTBEAT.prom not in exported
    assert not {name for name in exported if name.startswith(catalog.OUTBOX_BATCH_SIZE.prom)}
    assert catalog.TELEMETRY_INFO.prom in exported
    instruments.set(catalog.OUTBOX_RELAY_HEARTBEAT, 1_700_000_000.0)
    lines = generate_latest(registry).decode().splitlines()
    assert f"{catalog.OUTBOX_RELAY_HEARTBEAT.prom} 1.7e+09" in lines
