"""Bounded cardinality: flooding an integration with distinct names, exception types, queues and
operations never grows any label past its cap (``_OTHER`` takes the rest)."""

from __future__ import annotations

from collections import defaultdict

import pytest
from prometheus_client import CollectorRegistry

from telemetry import catalog
from telemetry.labels import OTHER

from .conftest import Harness, load_integration
from .integrations import INTEGRATIONS, Integration

CAP = 100  # the default label_cap the harness uses


def label_values(registry: CollectorRegistry) -> dict[tuple[str, str], set[str]]:
    """Distinct values per (metric, label) over every sample, histogram ``le`` aside."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for family in registry.collect():
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label != "le":
                    found[family.name, label].add(value)
    return found


def closed_sets() -> dict[tuple[str, str], set[str]]:
    """(metric family, Prometheus label) -> the closed value set the catalog declares."""
    return {
        (spec.prom.removesuffix("_total"), label.prom): set(label.values)
        for spec in catalog.CATALOG
        for label in spec.labels
        if label.values
    }


def over_the_cap(registry: CollectorRegistry) -> dict[tuple[str, str], int]:
    closed = closed_sets()
    too_many = {}
    for (metric, label), values in label_values(registry).items():
        if (metric, label) in closed:
            assert values <= closed[metric, label], (metric, label, values - closed[metric, label])
        elif len(values) > CAP + 1:
            too_many[metric, label] = len(values)
    return too_many


@pytest.mark.parametrize("entry", INTEGRATIONS, ids=[entry.name for entry in INTEGRATIONS])
async def test_flood_stays_under_the_cap(entry: Integration, harness: Harness) -> None:
    """3x the cap of distinct values per open label: every open label holds at most cap + 1
    values (``_OTHER`` included), closed labels only their declared values, and the overflow
    is counted."""
    module = load_integration(entry.module, entry.name)
    await entry.flood(module, harness, 3 * CAP)
    registry = harness.outputs.registry
    assert over_the_cap(registry) == {}
    folded = any(OTHER in values and len(values) == CAP + 1 for values in label_values(registry).values())
    overflows = [
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == "resilience_telemetry_label_overflows_total"
    ]
    # The overflow counters exist at 0 from the start; a fold must have moved one of them.
    assert folded == any(value > 0 for value in overflows), "a label reached its cap but no overflow was counted"
    series = sum(len(family.samples) for family in registry.collect())
    assert series < 20_000, series


def test_check_catches_an_unbounded_label() -> None:
    """The check itself: a metric written around the guard is reported."""
    from prometheus_client import Counter

    registry = CollectorRegistry()
    bad = Counter("bad_total", "Unguarded.", ["name"], registry=registry)
    for i in range(CAP + 5):
        bad.labels(f"n{i}").inc()
    assert over_the_cap(registry) == {("bad", "name"): CAP + 5}
