"""telemetry.promql: the one builder behind both the alert rules and the dashboards."""

from __future__ import annotations

import pytest

from telemetry import catalog
from telemetry.dashboards import _promql as panels
from telemetry.promql import Builder, Matcher, by, equal, label, number, selector


def test_selector_puts_the_scope_first_then_checked_matchers() -> None:
    state = label(catalog.CIRCUIT_STATE, "state")
    assert selector(catalog.CIRCUIT_STATE, Matcher(state, "=", "open"), scope=('job="api"',)) == (
        'resilience_circuit_state{job="api", state="open"}'
    )
    assert selector(catalog.CIRCUIT_STATE) == "resilience_circuit_state"
    assert selector(catalog.HTTP_SERVER_REQUEST_DURATION, suffix="_bucket", bucket="0.5") == (
        'http_server_request_duration_seconds_bucket{le="0.5"}'
    )


def test_equal_checks_closed_values_and_unions_tuples() -> None:
    assert equal(catalog.CIRCUIT_STATE, "state", ("open", "half_open")).render() == 'state=~"open|half_open"'
    with pytest.raises(ValueError, match="'forced_open' is not a value of 'state'"):
        equal(catalog.CIRCUIT_STATE, "state", ("open", "forced_open"))


def test_rules_and_dashboards_reject_the_same_unknown_label() -> None:
    """Both generators go through the same check, so they fail the same way on a typo."""
    with pytest.raises(ValueError, match="has no label 'pool'"):
        Builder().series(catalog.CIRCUIT_STATE, pool="x")
    with pytest.raises(ValueError, match=f"has no label '{catalog.POOL_NAME.name}'"):
        panels.selector(catalog.CIRCUIT_STATE, Matcher(catalog.POOL_NAME, "=", "x"))


def test_bucket_bound_only_on_bucket_series() -> None:
    with pytest.raises(ValueError, match="le is a label of"):
        selector(catalog.HTTP_SERVER_REQUEST_DURATION, suffix="_count", bucket="0.5")


def test_grouping_and_numbers() -> None:
    assert by("service", catalog.BREAKER_NAME) == "by (service, breaker_name)"
    assert Builder(service_label="app").by(catalog.CIRCUIT_STATE, "breaker_name", instance=True) == (
        "by (app, instance, breaker_name)"
    )
    assert number(0.1 * 0.144) == "0.0144"
