"""Panel expressions: valid PromQL (promtool), only catalog metrics and labels, every metric shown."""

from __future__ import annotations

import re

import pytest
from dashboard_support import promtool_check, substitute

from telemetry import catalog, dashboards
from telemetry.dashboards import _grafana, _promql
from telemetry.rules.config import RulesConfig
from telemetry.rules.families import families

_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"[^"]*"\s*')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
# PromQL words the panels may use; anything else identifier-like outside a selector is a bare metric.
_WORDS = {"sum", "max", "min", "count", "avg", "topk", "rate", "increase", "histogram_quantile", "time", "or", "and"}
_WORDS |= {"unless", "vector", "clamp_min", "by", "without", "on", "ignoring", "group", "avg", "avg_over_time"}
_WORDS |= {"group_left", "group_right"}
# Prometheus's own series: target health and the alerts it evaluates
_BUILTIN = {"up": ("job", "instance"), "ALERTS": ("alertname", "alertstate", "severity")}


def _names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) referenced by an expression; fails on anything unparsed."""
    metrics, labels = set(), set()
    for metric, matchers in _SELECTOR.findall(expr):
        metrics.add(metric)
        for matcher in filter(None, matchers.split(",")):
            match = _MATCHER.fullmatch(matcher)
            assert match is not None, (matcher, expr)
            labels.add(match.group(1))
    for group in _GROUPING.findall(expr):
        labels |= {name.strip() for name in group.split(",") if name.strip()}
    rest = re.sub(r"\[[^\]]*\]", " ", _GROUPING.sub(" ", _SELECTOR.sub(" ", expr)))
    leftovers = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", rest)) - _WORDS
    assert leftovers == set(), (leftovers, expr)
    return metrics, labels


def test_every_panel_expression_parses_with_promtool(tmp_path) -> None:
    """Each expression, with Grafana's variables substituted, is valid PromQL for promtool."""
    exprs = [substitute(expr) for expr in dashboards.expressions()]
    assert len(exprs) >= 60
    result = promtool_check(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_promtool_check_rejects_a_broken_expression(tmp_path) -> None:
    """The promtool check can fail: a typo in PromQL is reported."""
    result = promtool_check([substitute("sum by (x (rate(up[$__rate_interval]))")], tmp_path)
    assert result.returncode != 0
    assert "could not parse expression" in result.stdout + result.stderr


def test_alert_annotation_parses_with_promtool(tmp_path) -> None:
    """The firing-alerts annotation query (Prometheus's built-in ALERTS series) is valid PromQL."""
    result = promtool_check([substitute(_grafana.alert_annotation_expr("service"))], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _recorded(cfg: RulesConfig) -> set[str]:
    return {record.record for family in families(cfg) for record in family.records}


def test_expressions_use_only_catalog_metrics_and_labels() -> None:
    """Every metric is a catalog series, a recording rule the alert rules define for the same
    config, or Prometheus's `up`/`ALERTS`; every label is the metric's own, a target label, or `le`."""
    cfg = RulesConfig()
    series = {name: spec.label_names for spec in catalog.CATALOG for name in spec.series_names}
    series |= dict.fromkeys(_recorded(cfg), ()) | _BUILTIN
    for expr in dashboards.expressions(cfg):
        metrics, labels = _names(expr)
        assert metrics, expr
        assert metrics <= set(series), (metrics - set(series), expr)
        allowed = set(_promql.Scope.of(cfg).target_labels) | {label for name in metrics for label in series[name]}
        if any(name.endswith("_bucket") for name in metrics):
            allowed.add("le")
        assert labels <= allowed, (labels - allowed, expr)


def test_recorded_series_exist_for_a_custom_config() -> None:
    """The SLO panels read the recording rules generated from the same config: with another
    service label and other SLO windows, every recorded series a panel reads is still defined."""
    cfg = RulesConfig.from_mapping(
        {
            "service_label": "app",
            "slo_windows": [
                {"long": "2h", "short": "10m", "factor": 10, "for": "2m", "severity": "critical"},
                {"long": "1d", "short": "2h", "factor": 2, "for": "1h", "severity": "warning"},
            ],
        }
    )
    used = {name for expr in dashboards.expressions(cfg) for name in _names(expr)[0] if ":" in name}
    assert used == {
        "app:http_server_request_errors:ratio_rate2h",
        "app:http_server_request_errors:ratio_rate10m",
        "app:http_server_request_errors:ratio_rate1d",
        "app:http_server_request_slow:ratio_rate2h",
        "app:http_server_request_slow:ratio_rate1d",
    }
    assert used <= _recorded(cfg)


def test_name_check_catches_strangers() -> None:
    """The name check is not vacuous: a bare unknown metric or a foreign label is caught."""
    metrics, labels = _names('sum by (queue) (rate(resilience_retry_calls_total{outcome="x"}[$__rate_interval]))')
    assert (metrics, labels) == ({"resilience_retry_calls_total"}, {"outcome", "queue"})
    with pytest.raises(AssertionError, match="made_up_total"):
        _names("sum(rate(made_up_total[$__rate_interval]))")


def test_every_catalog_metric_is_on_a_dashboard_or_exempt() -> None:
    """No metric is emitted that nobody looks at: each non-exempt catalog metric is in some panel."""
    used = set()
    for expr in dashboards.expressions():
        used |= _names(expr)[0]
    missing = [spec.prom for spec in catalog.CATALOG if spec.exempt is None and not set(spec.series_names) & used]
    assert missing == []
