"""Series stay bounded whatever the input (issue 15, finding 3).

Two open labels varying independently multiplied the per-label cap (cap x cap series). A budget
per metric and for the whole exposition folds new combinations into ``_OTHER`` together, counts
the folds, and keeps no handle for a breaker name that was folded.
"""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import telemetry
from telemetry import catalog
from telemetry.events import DependencyCallSucceeded, RetryScheduled
from telemetry.labels import OTHER
from telemetry.metrics import SERIES_PER_METRIC, Instruments
from telemetry.state import STATE

from .conftest import Harness, load_integration
from .integrations import INTEGRATIONS, Integration, dynamic_exception

# Stated cap for the flood below: every integration flooded, plus 100 x 100 combinations of two
# open labels on three metrics. Measured 2.0-2.6 MB per integration with the budgets.
EXPOSITION_CAP = 4 * 2**20


def series(registry: CollectorRegistry, name: str) -> list[dict[str, str]]:
    """Label sets of one family's samples (histograms: the ``_count`` sample only)."""
    return [
        dict(sample.labels)
        for family in registry.collect()
        if family.name == name
        for sample in family.samples
        if not sample.name.endswith(("_bucket", "_sum", "_created", "_gcount", "_gsum"))
    ]


def cross_flood(n: int) -> None:
    """n x n combinations of two open labels on three metrics."""
    errors = [dynamic_exception(i) for i in range(n)]
    for i in range(n):
        for j in range(n):
            telemetry.record(RetryScheduled(retry_name=f"op-{i}", attempt=1, delay=0.0, caused_by=errors[j]))
            telemetry.record(DependencyCallSucceeded(dependency=f"dep-{i}", operation=f"call-{j}", duration=0.01))


def test_two_open_labels_fold_together_past_the_budget() -> None:
    """100 retry names x 100 error types: at most the budget of series plus one folded series,
    the fold counted per label."""
    registry = CollectorRegistry()
    telemetry.setup(registry=registry, service_name="orders")
    cross_flood(100)
    scheduled = series(registry, "resilience_retry_scheduled")
    assert len(scheduled) == SERIES_PER_METRIC + 1
    assert {"retry_name": OTHER, "error_type": OTHER} in scheduled
    durations = series(registry, "resilience_dependency_duration_seconds")
    assert len(durations) == SERIES_PER_METRIC + 1
    folds = {
        label: registry.get_sample_value("resilience_telemetry_label_overflows_total", {"label": label})
        for label in ("retry.name", "error.type", "dependency", "operation")
    }
    # Every folded event is counted: 9,000 per metric (the 1,000 admitted aside), and the dependency
    # labels sit on two metrics (operations counter and duration histogram).
    assert folds == {"retry.name": 9000.0, "error.type": 9000.0, "dependency": 18000.0, "operation": 18000.0}


def test_total_budget_caps_the_whole_exposition() -> None:
    """A total budget smaller than one metric's: every metric folds once the total is reached."""
    registry = CollectorRegistry()
    instruments = Instruments(registry, series_budget=1000, total_budget=300)
    for i in range(400):
        instruments.inc(catalog.RETRY_SCHEDULED, retry_name=f"op-{i}", error_type="E")
    names = Counter(labels["retry_name"] for labels in series(registry, "resilience_retry_scheduled"))
    assert len(instruments._children) <= 301
    assert names[OTHER] == 1


def test_folded_breaker_names_keep_no_handle() -> None:
    """20,000 breaker names with a cap of 100: only the admitted names keep a handle."""
    telemetry.setup(registry=CollectorRegistry(), label_cap=100)
    for i in range(20_000):
        telemetry.circuit_breaker(f"breaker-{i}").failed(RuntimeError())
    assert len(STATE.breakers) == 100


@pytest.mark.parametrize("entry", INTEGRATIONS, ids=[entry.name for entry in INTEGRATIONS])
async def test_flood_of_every_integration_with_two_open_labels_stays_under_the_size_cap(
    entry: Integration, harness: Harness
) -> None:
    """Each integration flooded (distinct names and error types) on top of 100 x 100 combinations
    of two open labels (40 x 40, past the budget): the exposition stays under EXPOSITION_CAP and no metric has more than the
    budget plus its folded series."""
    module = load_integration(entry.module, entry.name)
    await entry.flood(module, harness, 300)
    cross_flood(40)  # 1,600 combinations per metric: past the budget of 1,000
    registry = harness.outputs.registry
    size = len(generate_latest(registry))
    assert size < EXPOSITION_CAP, f"{size / 2**20:.1f} MB"
    per_metric = Counter(
        family.name
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith(("_bucket", "_sum", "_created"))
    )
    # A folded combination keeps its closed labels (outcome, status): a few _OTHER series each.
    assert {name: count for name, count in per_metric.items() if count > SERIES_PER_METRIC + 10} == {}
