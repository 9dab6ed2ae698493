"""Runbooks for 3 a.m.: each section has PromQL to paste that promtool parses, names panels that
exist on the alert's dashboard, orders its causes, and says whom to escalate to and when a
silence is safe; the burn-rate sections say what each window pair means."""

from __future__ import annotations

import re

import pytest
from dashboard_support import promtool_check
from test_dashboard_expressions import _BUILTIN, _names

from telemetry import catalog, dashboards
from telemetry.rules import RulesConfig
from telemetry.rules.families import families

CONFIGS = {
    "default": {},
    "custom": {"service_label": "app", "instance_label": "pod", "rate_window": "10m", "dashboard_uid_prefix": "ops-"},
}
_CODE = re.compile(r"`([^`]+)`")
_QUERY = re.compile(r"\bquery\s+`([^`]+)`")
_PANEL = re.compile(r"\*([^*]+)\*")


def _queries(cfg: RulesConfig) -> dict[str, list[str]]:
    """Alert name -> its runbook's PromQL: every code span of the confirm part, and the spans
    that follow the word "query" in the causes and mitigation."""
    found = {}
    for family in families(cfg):
        for book in family.runbooks:
            found[book.alert] = _CODE.findall(book.confirm) + [
                query for item in (*book.causes, *book.mitigation) for query in _QUERY.findall(item)
            ]
    return found


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_runbook_section_has_promql_that_promtool_parses(name, tmp_path) -> None:
    """Every section has at least one query to paste; all of them parse (promtool check rules on
    a throwaway recording rule each), for the default and for a custom config."""
    cfg = RulesConfig.from_mapping(CONFIGS[name])
    queries = _queries(cfg)
    alerts = {alert.name for family in families(cfg) for alert in family.alerts}
    assert set(queries) == alerts
    assert [alert for alert, exprs in queries.items() if not exprs] == []
    exprs = [expr for exprs in queries.values() for expr in exprs]
    result = promtool_check(exprs, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_runbook_queries_use_catalog_names_and_the_configured_identity() -> None:
    """Runbook PromQL reads catalog series (or Prometheus's `up`/`ALERTS`) and groups by the
    configured service label: with `service_label: app` no query mentions `job`."""
    cfg = RulesConfig.from_mapping(CONFIGS["custom"])
    series = {name: spec.label_names for spec in catalog.CATALOG for name in spec.series_names} | _BUILTIN
    # a bare series name (no matchers) as the selector parser expects it: `name{}`
    bare = re.compile(r"\b(" + "|".join(sorted(series, key=len, reverse=True)) + r")\b(?![{\w])")
    for alert, exprs in _queries(cfg).items():
        for expr in exprs:
            metrics, labels = _names(bare.sub(r"\1{}", expr))
            assert metrics <= set(series), (alert, metrics - set(series))
            allowed = {"app", "pod", "le"} | {label for metric in metrics for label in series[metric]}
            assert labels <= allowed, (alert, labels - allowed, expr)
            assert not re.search(r"\b(job|service|instance)\b", expr), (alert, expr)


def test_runbooks_open_panels_that_exist_on_the_alerts_dashboard(models) -> None:
    """Every *panel* a confirm part names is a panel title of the dashboard the alert links to."""
    cfg = RulesConfig()
    boards = dashboards.dashboards(cfg)
    for family in families(cfg):
        titles = {panel["title"] for panel in boards[f"{cfg.dashboard_uid_prefix}{family.dashboard}"]["panels"]}
        for book in family.runbooks:
            named = _PANEL.findall(book.confirm)
            assert named, book.alert
            assert set(named) <= titles, (book.alert, set(named) - titles)


def test_every_section_orders_causes_escalates_and_says_when_to_silence() -> None:
    """At least two likely causes, most likely first; an escalation step; a silence rule."""
    for family in families(RulesConfig()):
        for book in family.runbooks:
            assert len(book.causes) >= 2, book.alert
            assert book.causes[0].startswith("Most likely"), book.alert
            assert any(step.startswith("Escalate") for step in book.mitigation), book.alert
            assert any(step.startswith(("Safe to silence", "Never silence")) for step in book.mitigation), book.alert


def test_burn_rate_runbooks_explain_every_window_pair() -> None:
    """Each SLO runbook names every long/short pair of the config with its factor and whether it
    pages, so the on-call knows how urgent the firing pair is."""
    cfg = RulesConfig.from_mapping(
        {
            "slo_windows": [
                {"long": "2h", "short": "10m", "factor": 10, "for": "2m", "severity": "critical"},
                {"long": "1d", "short": "2h", "factor": 2, "for": "1h", "severity": "warning"},
            ]
        }
    )
    slo = next(family for family in families(cfg) if family.name == "slo")
    for book in slo.runbooks:
        assert "long=2h, short=10m: 10x the budget, pages" in book.meaning, book.meaning
        assert "long=1d, short=2h: 2x the budget, a ticket" in book.meaning, book.meaning
