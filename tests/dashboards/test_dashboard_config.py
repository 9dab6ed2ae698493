"""One config drives the alerts and the dashboards: identity label, selector, thresholds, links."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

from telemetry import dashboards
from telemetry.rules import RulesConfig, render

CUSTOM = {
    "service_label": "app",
    "selector": 'env="prod"',
    "dashboard_uid_prefix": "ops-",
    "dependency_failure_ratio": 0.2,
    "health_failure_ratio": 0.4,
    "retry_exhaustion_ratio": 0.05,
    "retry_amplification": 3,
    "outbox_age_warning": 120,
    "outbox_age_critical": 600,
    "outbox_heartbeat_stale": 60,
    "dlq_stale_age": 1800,
    "availability_objective": 0.995,
    "latency_objective": 0.95,
    "latency_threshold": 1.0,
}


def _alerts(cfg: RulesConfig) -> dict[str, list[dict[str, Any]]]:
    """Alerting rules by name (an SLO alert has one rule per window pair)."""
    rules: dict[str, list[dict[str, Any]]] = {}
    for path, text in render(cfg).items():
        if path.name.endswith(".rules.yml"):
            for group in yaml.safe_load(text)["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule:
                        rules.setdefault(rule["alert"], []).append(rule)
    return rules


def _panels(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {panel["title"]: panel for panel in model["panels"] if panel["type"] != "row"}


def _steps(panel: dict[str, Any]) -> list[tuple[float | None, str]]:
    return [(step["value"], step["color"]) for step in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]


@pytest.fixture(scope="module")
def custom(models) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """The alert rules and dashboards of one custom config (``models`` makes grafanalib required)."""
    cfg = RulesConfig.from_mapping(CUSTOM)
    return _alerts(cfg), dashboards.dashboards(cfg)


def test_a_custom_config_moves_the_alert_and_the_panel_line_together(custom) -> None:
    """Each threshold of the custom config is both in its alert's expression and on its panel."""
    alerts, boards = custom
    expected = [
        ("DependencyFailureRatioHigh", "> 0.2", "ops-dependencies", "Failure ratio", [(None, "green"), (0.2, "red")]),
        (
            "HealthCheckFailureRatioHigh",
            "> 0.4",
            "ops-dependencies",
            "Check failure ratio",
            [(None, "green"), (0.4, "red")],
        ),
        ("RetryExhaustionRatioHigh", "> 0.05", "ops-retries", "Exhaustion ratio", [(None, "green"), (0.05, "red")]),
        ("RetryAmplificationHigh", "> 3", "ops-retries", "Amplification", [(None, "green"), (3, "red")]),
        (
            "DeadLetterQueueStale",
            "> 1800",
            "ops-outbox-dlq",
            "DLQ oldest message age",
            [(None, "green"), (1800, "red")],
        ),
        (
            "OutboxBacklogStale",
            "> 120",
            "ops-outbox-dlq",
            "Oldest pending age",
            [(None, "green"), (120, "orange"), (600, "red")],
        ),
        ("OutboxRelayHeartbeatStale", "> 60", "ops-outbox-dlq", "Relay heartbeat age", [(None, "green"), (60, "red")]),
    ]
    for alert, comparison, uid, title, steps in expected:
        assert any(comparison in rule["expr"] for rule in alerts[alert]), (alert, [r["expr"] for r in alerts[alert]])
        assert _steps(_panels(boards[uid])[title]) == steps, (uid, title)


def test_slo_lines_follow_the_objectives_and_burn_factors(custom) -> None:
    """The 5xx line sits at the error budget and at the fastest page's factor, the latency line
    at the SLO threshold, the burn-rate lines at every alert pair's factor."""
    alerts, boards = custom
    overview = _panels(boards["ops-overview"])
    assert alerts["HttpAvailabilityBudgetBurn"][0]["expr"].startswith(
        "app:http_server_request_errors:ratio_rate1h > 0.072\n"
    )
    assert _steps(overview["Error ratio vs SLO"]) == [(None, "green"), (0.005, "orange"), (0.072, "red")]
    assert _steps(overview["Slow requests vs SLO"]) == [(None, "green"), (0.05, "orange"), (0.72, "red")]
    assert _steps(overview["Latency vs SLO threshold"]) == [(None, "green"), (1.0, "red")]
    assert _steps(overview["p95 latency"]) == [(None, "green"), (1.0, "red")]
    burn = [(None, "green"), (1.0, "orange"), (3.0, "orange"), (6.0, "red"), (14.4, "red")]
    assert _steps(overview["Burn rate"]) == burn
    assert overview["Latency vs SLO threshold"]["targets"][0]["expr"] == (
        'histogram_quantile(0.95, sum by (le, app) (rate(http_server_request_duration_seconds_bucket{env="prod", '
        'app=~"$app", instance=~"$instance"}[$__rate_interval])))'
    )


def test_every_query_and_variable_uses_the_configured_identity_and_selector(custom) -> None:
    """With `service_label: app` and a selector, no query or variable mentions `service` or
    `job`, every raw selector starts with the configured selector, and the service variable is `app`."""
    _, boards = custom
    for uid, model in boards.items():
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert variables["app"]["query"] == 'label_values(resilience_telemetry_info{env="prod"}, app)', uid
        assert variables["instance"]["query"] == (
            'label_values(resilience_telemetry_info{env="prod", app=~"$app"}, instance)'
        )
        for panel in _panels(model).values():
            for target in panel.get("targets", []):
                expr = target["expr"]
                assert not re.search(r"\b(service|job)\b", expr), expr
                for name, matchers in re.findall(r"([a-zA-Z_][\w:]*)\{([^}]*)\}", expr):
                    first = 'app=~"$app"' if ":" in name or name == "ALERTS" else 'env="prod"'
                    assert matchers.split(", ")[0] in {first, 'alertstate="firing"'}, (name, expr)
        assert model["annotations"]["list"][1]["expr"] == 'ALERTS{alertstate="firing", app=~"$app"}'


@pytest.mark.parametrize("config", [{}, CUSTOM], ids=["default", "custom"])
def test_every_dashboard_link_lands_on_variables_and_panels_of_its_board(models, config) -> None:
    """Each alert's `dashboard_url` opens a generated board by uid; every variable it sets exists
    there, and every object variable (breaker, pool, queue, dlq, ...) filters at least one panel."""
    cfg = RulesConfig.from_mapping(config)
    boards = dashboards.dashboards(cfg)
    identity = {cfg.service_label, "instance"}
    for name, rules in _alerts(cfg).items():
        for rule in rules:
            url = urlsplit(rule["annotations"]["dashboard_url"])
            uid = url.path.removeprefix("/d/")
            assert uid in boards, (name, uid)
            model = boards[uid]
            variables = {v["name"] for v in model["templating"]["list"]}
            names = [key.removeprefix("var-") for key, _ in parse_qsl(url.query) if key.startswith("var-")]
            assert cfg.service_label in names, name
            assert set(names) <= variables, (name, set(names) - variables)
            exprs = [t["expr"] for p in _panels(model).values() for t in p.get("targets", [])]
            for variable in set(names) - identity:
                assert any(f'=~"${variable}"' in expr for expr in exprs), (name, variable)


def test_dlq_variables_name_the_queue_each_metric_is_labelled_with(models) -> None:
    """Inflow (labelled with the source queue) is filtered by `queue`, depth and age (labelled
    with the dead-letter queue) by `dlq`, and each DLQ alert's link sets the one its label means."""
    board = dashboards.dashboards()["rt-outbox-dlq"]
    panels = _panels(board)
    variables = {v["name"]: v["query"] for v in board["templating"]["list"]}
    assert variables["queue"].startswith("label_values(resilience_dlq_dead_lettered_total{")
    assert variables["dlq"].startswith("label_values(resilience_dlq_depth{")
    assert 'queue=~"$queue"' in panels["DLQ inflow by source queue"]["targets"][0]["expr"]
    for title in ("DLQ depth", "DLQ oldest message age", "Redrives"):
        assert 'queue=~"$dlq"' in panels[title]["targets"][0]["expr"], title
    links = {
        name: urlsplit(rules[0]["annotations"]["dashboard_url"]).query for name, rules in _alerts(RulesConfig()).items()
    }
    assert "var-queue={{ $labels.queue | urlquery }}" in links["DeadLetterInflow"]
    assert "var-dlq={{ $labels.queue | urlquery }}" in links["DeadLetterQueueStale"]
