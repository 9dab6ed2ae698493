"""Grafana's dashboard linter (grafana/dashboard-linter, its rules as of v0.2), ported: the
linter is a Go binary that cannot be installed here, so this module checks the same rules on
the committed ``dashboards/*.json`` and honours the same ``dashboards/.lint`` exclusions file
the linter reads. Rules the other dashboard tests already hold (units, descriptions,
``$__rate_interval``, valid PromQL, the templated datasource on every panel) are not repeated.

Every exclusion in ``.lint`` must still be needed: a stale entry fails like a violation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
QUERY_PANELS = {"stat", "singlestat", "graph", "table-old", "timeseries", "gauge"}
_SELECTOR = re.compile(r"\b([a-zA-Z_:][\w:]*)\{([^{}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def _boards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DASHBOARDS.glob("*.json"))}


def _panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for panel in panels:
        out.append(panel)
        out += _panels(panel.get("panels", []))
    return out


def _datasource_violations(sources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """template-datasource-rule: one per plugin, named ``<plugin>_datasource`` when several."""
    if not sources:
        return [("template-datasource-rule", "does not have a templated data source")]
    found = []
    for source in sources:
        plugin = source["query"].lower()
        names, labels = {f"{plugin}_datasource"}, {f"{plugin.title()} data source"}
        if len(sources) == 1:
            names, labels = names | {"datasource"}, labels | {"Data source"}
        if source["name"] not in names:
            found.append(("template-datasource-rule", f"data source variable named {source['name']!r}"))
        if source.get("label") not in labels:
            found.append(("template-datasource-rule", f"data source variable labelled {source.get('label')!r}"))
    return found


def _identity_violations(name: str, template: dict[str, Any] | None, allowed: set[str]) -> list[tuple[str, str]]:
    """template-job-rule and template-instance-rule."""
    rule = f"template-{name}-rule"
    if template is None:
        return [(rule, f"is missing the {name} template")]
    checks = {
        f"{name} template does not use the Prometheus data source variable": (
            (template.get("datasource") or {}).get("uid") in allowed
        ),
        f"{name} template is a {template['type']}, not a query": template["type"] == "query",
        f"{name} template labelled {template.get('label')!r}": template.get("label") == name.title(),
        f"{name} template is not a multi select": bool(template.get("multi")),
        f"{name} template allValue is {template.get('allValue')!r}": template.get("allValue") == ".+",
    }
    return [(rule, message) for message, ok in checks.items() if not ok]


def _dashboard_violations(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(rule, message) for the dashboard-level rules."""
    variables = board["templating"]["list"]
    sources = [v for v in variables if v["type"] == "datasource"]
    found = _datasource_violations(sources)
    prometheus = next((s for s in sources if s["query"] == "prometheus"), None)
    if prometheus is not None:
        allowed = {f"${prometheus['name']}", f"${{{prometheus['name']}}}"}
        for name in ("job", "instance"):
            found += _identity_violations(name, next((v for v in variables if v["name"] == name), None), allowed)
    for variable in variables:
        if variable["type"] != "query":
            continue
        if variable.get("refresh") != 2:
            found.append(("template-on-time-change-reload-rule", f"{variable['name']} does not reload"))
        if not re.fullmatch(r"label_values\((.+), *\w+\)|[a-zA-Z_:].*", variable["query"]):
            found.append(("template-label-promql-rule", f"{variable['name']}: {variable['query']}"))
    if board.get("editable", True):
        found.append(("uneditable-dashboard", "is editable"))
    return found


def _target_violations(board: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(rule, panel title, target index) for the panel and target rules."""
    found: list[tuple[str, str, int]] = []
    for panel in _panels(board["panels"]):
        if panel["type"] in QUERY_PANELS and not panel.get("targets"):
            found.append(("panel-no-targets-rule", panel["title"], 0))
        for index, target in enumerate(panel.get("targets", [])):
            if (target.get("datasource") or {}).get("type") != "prometheus":
                continue
            for _name, body in _SELECTOR.findall(target.get("expr", "")):
                matchers = {(label, op, value) for label, op, value in _MATCHER.findall(body)}
                for label in ("job", "instance"):
                    if (label, "=~", f"${label}") not in matchers:
                        found.append((f"target-{label}-rule", panel["title"], index))
    return found


def _exclusions() -> dict[str, Any]:
    return yaml.safe_load((DASHBOARDS / ".lint").read_text(encoding="utf-8"))["exclusions"]


def _excluded(rule: str, dashboard: str, panel: str, index: int, exclusions: dict[str, Any]) -> dict[str, Any] | None:
    spec = exclusions.get(rule)
    if spec is None:
        return None
    if not spec.get("entries"):
        return spec
    for entry in spec["entries"]:
        where = (entry.get("dashboard", dashboard), entry.get("panel", panel), entry.get("targetIdx", index))
        if where == (dashboard, panel, index):
            return entry
    return None


def test_every_dashboard_passes_the_dashboard_linter_rules() -> None:
    """No violation of the linter's rules that ``.lint`` does not exclude, with a reason."""
    exclusions = _exclusions()
    assert all(spec.get("reason") for spec in exclusions.values())
    violations = []
    for name, board in _boards().items():
        violations += [(name, rule, message) for rule, message in _dashboard_violations(board)]
        for rule, panel, index in _target_violations(board):
            if _excluded(rule, board["title"], panel, index, exclusions) is None:
                violations.append((name, rule, f"{panel} / target {index}"))
    assert violations == []


def test_every_exclusion_is_still_needed() -> None:
    """An exclusion entry that matches no violation is stale and would hide a new one."""
    exclusions = _exclusions()
    used: set[tuple[str, int]] = set()
    for board in _boards().values():
        for rule, panel, index in _target_violations(board):
            entry = _excluded(rule, board["title"], panel, index, exclusions)
            if entry is not None:
                used.add((rule, id(entry)))
    listed = {(rule, id(entry)) for rule, spec in exclusions.items() for entry in spec.get("entries", [])}
    assert listed - used == set()


def test_the_service_level_exclusions_are_the_slo_and_alert_panels() -> None:
    """Only the overview's SLO panels (recorded per service, with no instance) and its status
    (alerts per service) are exempt from the instance matcher; every other query filters by
    both identity variables."""
    assert {
        (rule, entry["dashboard"], entry["panel"]) for rule, spec in _exclusions().items() for entry in spec["entries"]
    } == {
        ("target-instance-rule", "Service overview", "Status"),
        ("target-instance-rule", "Service overview", "Error budget left"),
        ("target-instance-rule", "Service overview", "Budget left"),
        ("target-instance-rule", "Service overview", "Burn rate 1h"),
        ("target-instance-rule", "Service overview", "Burn rate"),
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: b.update(editable=True), ("uneditable-dashboard", "is editable")),
        (
            lambda b: b["templating"]["list"][3].update(allValue=".*"),
            ("template-job-rule", "job template allValue is '.*'"),
        ),
        (
            lambda b: b["templating"]["list"][4].update(refresh=1),
            ("template-on-time-change-reload-rule", "instance does not reload"),
        ),
        (
            lambda b: b["templating"]["list"][1].update(name="logs"),
            ("template-datasource-rule", "data source variable named 'logs'"),
        ),
    ],
)
def test_the_port_catches_a_violation(change: Any, expected: tuple[str, str]) -> None:
    """Not vacuous: one broken setting of the overview is reported by its rule."""
    board = _boards()["overview.json"]
    assert _dashboard_violations(board) == []
    change(board)
    assert _dashboard_violations(board) == [expected]


def test_the_port_catches_a_query_without_the_identity_matchers() -> None:
    board = _boards()["breakers.json"]
    panel = next(p for p in _panels(board["panels"]) if p.get("targets"))
    panel["targets"][0]["expr"] = 'sum(rate(resilience_circuit_breaker_calls_total{job=~"$job"}[$__rate_interval]))'
    assert ("target-instance-rule", panel["title"], 0) in _target_violations(board)
