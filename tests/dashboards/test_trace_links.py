"""Trace-search links that land: each alert's TraceQL finds spans a real run of the reference
service emitted for the fault that alert is about.

The reference service (``python -m examples.orders``, the drill's) exports its spans over
OTLP/HTTP to a loopback receiver that keeps them with their resource and event attributes; the
test injects each fault through the service's admin API, then evaluates every alert's generated
trace query (alert labels filled with the objects the service names) on the received spans.
"""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pytest
import yaml
from traceql import OtlpSpans, Span, conditions, matches

from examples.drill.service import Service
from examples.drill.stack import free_port, serve_posts, stop_server
from telemetry import catalog as c
from telemetry import dashboards
from telemetry.rules import RulesConfig, render
from telemetry.rules.render import trace_query

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

# The labels each alert carries in a run of the reference service: its objects' names.
LABELS = {
    "service": "orders",
    "job": "orders",
    c.BREAKER_NAME.prom: "s3",
    c.DEPENDENCY.prom: "s3",
    c.POOL_NAME.prom: "orders",
    c.RETRY_NAME.prom: "orders_db_read",
    c.QUEUE.prom: "orders.created",
    c.CHECK.prom: "s3",
}
_FIELD = re.compile(r"\$\{__field\.labels\.(\w+)\}")
# Alerts whose fault the run injects (the others' objects the reference service does not have,
# or their queries only filter on the service, checked by the HTTP alerts).
FOUND_BY_THE_RUN = {
    "CircuitBreakerOpen",
    "CircuitBreakerFlapping",
    "CircuitBreakerOpenTimeHigh",
    "DependencyFailureRatioHigh",
    "HealthCheckFailureRatioHigh",
    "DatabasePoolTimeouts",
    "RetryExhaustionRatioHigh",
    "RetryAmplificationHigh",
    "DeadLetterInflow",
    "HttpAvailabilityBudgetBurn",
    "HttpLatencyBudgetBurn",
}


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


@pytest.fixture(scope="module")
def spans(tmp_path_factory: pytest.TempPathFactory) -> list[Span]:
    """Spans of one run with every fault injected once, in the drill's order."""
    kept = OtlpSpans()
    port = free_port()
    receiver = serve_posts(port, kept, "application/x-protobuf")
    workdir: Path = tmp_path_factory.mktemp("trace-links")
    service = Service(
        workdir, env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_BSP_SCHEDULE_DELAY": "200"}
    )
    try:
        service.start()
        status, created = service.call("POST", "/orders", {"item": "book", "quantity": 1})
        assert status == 201, created
        order = created["id"]
        service.call("PUT", f"/orders/{order}/receipt", {"text": "paid"})
        # dependency failures, then the breaker open (rejected calls), then recovery
        service.set_faults(s3_failure_ratio=1.0)
        for _ in range(4):
            service.call("PUT", f"/orders/{order}/receipt", {"text": "paid"})
        service.set_faults(breaker_open=True)
        for _ in range(3):
            service.call("PUT", f"/orders/{order}/receipt", {"text": "paid"})
        service.call("GET", "/health/detailed")
        service.set_faults(breaker_open=False, s3_failure_ratio=0.0)
        # pool exhaustion: reads time out and their retries exhaust
        service.set_faults(pool_holders=7)
        for _ in range(2):
            service.call("GET", f"/orders/{order}")
        service.set_faults(pool_holders=0)
        # a consumer that fails: the message is dead-lettered
        service.set_faults(consumer_fail=True)
        service.call("POST", "/orders", {"item": "pen", "quantity": 2})
        _wait(lambda: any(s.error and "orders.created" in str(s.attributes) for s in kept.spans), 10)
        service.set_faults(consumer_fail=False)
        _wait(lambda: False, 1.5)  # the batch processor's last export
    finally:
        service.stop()
        _wait(lambda: False, 1.0)
        stop_server(receiver)
    return kept.spans


def _alerts(cfg: RulesConfig) -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = {}
    for path, text in render(cfg).items():
        if path.name.endswith(".rules.yml"):
            for group in yaml.safe_load(text)["groups"]:
                for rule in group["rules"]:
                    rules.setdefault(rule.get("alert", ""), rule)
    rules.pop("", None)
    return rules


def _queries(cfg: RulesConfig) -> dict[str, str]:
    """Every alert's trace query with the reference service's label values filled in."""
    from telemetry.rules.families import families

    return {
        alert.name: trace_query(cfg, alert, lambda name: LABELS.get(name, f"<{name}>"))
        for family in families(cfg)
        for alert in family.alerts
    }


@pytest.mark.slow
def test_every_trace_link_finds_spans_of_a_real_run(spans: list[Span]) -> None:
    """Each alert whose fault the run injects has a trace query that selects at least one span
    the reference service really exported; every query stays inside the TraceQL the links use."""
    queries = _queries(RulesConfig())
    assert set(queries) >= FOUND_BY_THE_RUN
    for query in queries.values():
        conditions(query)
    empty = {name: queries[name] for name in sorted(FOUND_BY_THE_RUN) if not matches(queries[name], spans)}
    assert empty == {}
    assert {name: queries[name] for name in ("DependencyFailureRatioHigh", "HttpLatencyBudgetBurn")} == {
        "DependencyFailureRatioHigh": '{ resource.service.name = "orders" && event.dependency = "s3" && status = error }',
        "HttpLatencyBudgetBurn": '{ resource.service.name = "orders" && duration > 0.5s }',
    }
    # the slow spans the latency link finds are slow requests, not only failed ones
    assert {span.name for span in matches(queries["HttpLatencyBudgetBurn"], spans)} >= {
        "PUT /orders/{order_id}/receipt"
    }
    # a health check run is its own span, named by its check, failed when the check failed
    assert matches('{ resource.service.name = "orders" && span.check = "s3" && status = error }', spans)


@pytest.mark.slow
def test_every_trace_data_link_of_the_dashboards_finds_spans(models, spans: list[Span]) -> None:
    """Each Tempo data link on a panel (a click on one series), with the series' labels filled in
    as the reference service names its objects, selects spans the run really exported."""
    links = {}
    for model in dashboards.dashboards(RulesConfig()).values():
        for panel in model["panels"]:
            for link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", []):
                if "tempo" in link["url"]:
                    pane = json.loads(unquote(link["url"].split("panes=", 1)[1]))["a"]
                    query = _FIELD.sub(lambda m: LABELS[m.group(1)], pane["queries"][0]["query"])
                    links[f"{model['uid']} / {panel['title']} / {link['title']}"] = query
                    assert pane["range"] == {"from": "${__from}", "to": "${__to}"}
    assert len(links) >= 8
    assert {name: query for name, query in links.items() if not matches(query, spans)} == {}


@pytest.mark.slow
def test_the_matcher_keeps_scopes_apart(spans: list[Span]) -> None:
    """Not vacuous: an attribute written only on span events is not found in the span scope,
    and a value nobody wrote finds nothing."""
    assert matches('{ event.dependency = "s3" }', spans)
    assert not matches('{ span.dependency = "s3" }', spans)
    assert not matches('{ resource.service.name = "orders" && event.dependency = "nope" }', spans)
