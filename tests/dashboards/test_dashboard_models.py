"""The generated dashboards: committed, fixed uids, clean current JSON, valid against Grafana's schema."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from dashboard_support import ROOT, data_panels

from telemetry import catalog, dashboards
from telemetry.dashboards import _grafana, _promql
from telemetry.generate import check
from telemetry.rules.config import RulesConfig

UIDS = {
    "rt-overview": "dashboards/overview.json",
    "rt-breakers": "dashboards/breakers.json",
    "rt-retries": "dashboards/retries.json",
    "rt-pools": "dashboards/pools.json",
    "rt-outbox-dlq": "dashboards/outbox-dlq.json",
    "rt-dependencies": "dashboards/dependencies.json",
    "rt-toolbox": "dashboards/toolbox.json",
}
# Keys grafanalib 0.7.1 emits that current Grafana treats as legacy (or that the strict schema rejects).
LEGACY = {"rows", "hideControls", "sharedCrosshair", "style", "__inputs", "time_options", "span", "minSpan", "height"}
PANEL_SCHEMAS = {"timeseries": "timeseries", "stat": "stat", "state-timeline": "statetimeline", "table": "table"}


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (path, value) pair of a JSON document."""
    out = [(path, value)]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _walk(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _walk(item, f"{path}/{index}")
    return out


def test_committed_json_equals_fresh_generation(models) -> None:
    """`dashboards/*.json` in the repository is exactly what `make generate` writes now."""
    files = dashboards.generate()
    assert {str(path) for path in files} == set(UIDS.values())
    assert check(ROOT, files) == []
    for uid, path in UIDS.items():
        assert json.loads((ROOT / path).read_text(encoding="utf-8")) == models[uid]


def test_uids_are_fixed_and_generation_is_deterministic(models) -> None:
    """Each dashboard keeps its uid across runs, so links and bookmarks survive a regeneration."""
    assert {uid: model["uid"] for uid, model in models.items()} == {uid: uid for uid in UIDS}
    assert dashboards.generate() == dashboards.generate()


def test_every_dashboard_validates_against_grafanas_schema(models, schemas) -> None:
    """The JSON is valid for Grafana's dashboard schema (draft-07, no extra keys), each panel's
    options and field config for its panel plugin's schema, each target for the Prometheus query schema."""
    errors = []
    for uid, model in models.items():
        errors += [
            (uid, e.json_path, e.message) for e in jsonschema.Draft7Validator(schemas["dashboard"]).iter_errors(model)
        ]
        for panel in model["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["type"] in {*PANEL_SCHEMAS, "alertlist"}, panel["type"]
            plugin = schemas.get(PANEL_SCHEMAS.get(panel["type"], ""))
            parts = {"Options": panel["options"], "FieldConfig": panel["fieldConfig"]["defaults"].get("custom", {})}
            for definition, instance in parts.items():
                if plugin is not None and definition in plugin["definitions"]:
                    schema = plugin | {"$ref": f"#/definitions/{definition}"}
                    validator = jsonschema.Draft7Validator(schema)
                    errors += [(uid, panel["title"], definition, e.message) for e in validator.iter_errors(instance)]
            query_schema = jsonschema.Draft7Validator(schemas["prometheus"])
            for target in panel.get("targets", []):
                errors += [(uid, panel["title"], "target", e.message) for e in query_schema.iter_errors(target)]
    assert errors == []


def test_schema_validation_catches_grafanalibs_raw_output(schemas) -> None:
    """The schema check is not vacuous: grafanalib's own dashboard JSON fails it."""
    from grafanalib._gen import DashboardEncoder
    from grafanalib.core import Dashboard

    raw = json.loads(json.dumps(Dashboard(title="raw", uid="raw").to_json_data(), cls=DashboardEncoder))
    messages = {e.message for e in jsonschema.Draft7Validator(schemas["dashboard"]).iter_errors(raw)}
    assert any("'rows'" in message for message in messages), messages


def test_no_legacy_keys_or_nulls(models) -> None:
    """No grafanalib-era keys and no nulls except the base threshold step Grafana itself writes."""
    for uid, model in models.items():
        for path, value in _walk(model):
            assert path.rsplit("/", 1)[-1] not in LEGACY, (uid, path)
            if value is None:
                assert path.endswith("/steps/0/value") and "/thresholds" in path, (uid, path)
        assert model["schemaVersion"] == _grafana.SCHEMA_VERSION
        assert model["editable"] is False


def test_every_panel_has_unit_description_and_templated_datasource(models) -> None:
    """On-call sees a unit and an explanation on every panel; every query uses the datasource variable."""
    for model in models.values():
        for panel in model["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["description"].endswith("."), panel["title"]
            assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        for panel in data_panels(model):
            assert panel["datasource"] == {"type": "prometheus", "uid": "${prometheus_datasource}"}
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids))


def test_variables_links_and_annotations(models) -> None:
    """Every dashboard has the datasource, service and instance variables, links to the other
    dashboards, to logs and to trace search, and firing alerts as annotations."""
    for uid, model in models.items():
        variables = {v["name"]: v for v in model["templating"]["list"]}
        assert list(variables)[:5] == [
            "prometheus_datasource",
            "loki_datasource",
            "tempo_datasource",
            "job",
            "instance",
        ], uid
        assert variables["prometheus_datasource"]["type"] == "datasource"
        assert variables["prometheus_datasource"]["current"]["value"] == "prometheus"
        assert [variables[name]["allValue"] for name in ("job", "instance")] == [".+", ".+"]
        assert variables["job"]["query"] == f"label_values({catalog.TELEMETRY_INFO.prom}, job)"
        assert variables["instance"]["query"] == (
            f'label_values({catalog.TELEMETRY_INFO.prom}{{job=~"$job"}}, instance)'
        )
        assert {"correlation_id", "trace_id"} <= set(variables)
        links = {link["title"]: link for link in model["links"]}
        assert links["Resilience dashboards"]["tags"] == [_grafana.TAG]
        assert links["Resilience dashboards"]["includeVars"] is True
        assert "${loki_datasource}" in links["Logs by correlation ID"]["url"]
        assert "correlation_id" in links["Logs by correlation ID"]["url"]
        assert "${tempo_datasource}" in links["Error traces"]["url"]
        annotations = {a["name"]: a for a in model["annotations"]["list"]}
        assert annotations["Firing alerts"]["expr"] == 'ALERTS{alertstate="firing", job=~"$job"}'
        assert _grafana.TAG in model["tags"]


def test_component_variables_come_from_catalog_series(models) -> None:
    """Component variables (breaker, pool, queue, ...) read label values from catalog metrics."""
    names = {spec.prom: spec for spec in catalog.CATALOG}
    seen = set()
    for model in models.values():
        for variable in model["templating"]["list"]:
            if variable["type"] != "query" or variable["name"] in _promql.Scope.of(RulesConfig()).target_labels:
                continue
            match = re.fullmatch(r"label_values\((\w+)\{[^}]*\}, (\w+)\)", variable["query"])
            assert match is not None, variable["query"]
            metric, label = match.groups()
            assert label in names[metric].label_names, variable["name"]
            seen.add(variable["name"])
    assert seen == {
        *("breaker", "retry", "pool", "outbox_table", "queue", "dlq", "dependency", "check"),
        *("operation", "limiter", "bulkhead", "recovery"),
    }


def test_latency_targets_ask_for_exemplars(models) -> None:
    """Every quantile of a seconds histogram asks Grafana for exemplars, so dots link to traces."""
    latency = 0
    for model in models.values():
        for panel in data_panels(model):
            for target in panel["targets"]:
                is_latency = target["expr"].startswith("histogram_quantile") and "_seconds_bucket" in target["expr"]
                if is_latency and panel["title"] != "Create and use time (p95)" and panel["type"] != "stat":
                    assert target["exemplar"] is True, (panel["title"], target["expr"])
                    latency += 1
    assert latency >= 16


def test_panel_expressions_use_the_rate_interval(models) -> None:
    """Every range selector uses `$__rate_interval`, except the error budget (averaged over the
    budget period) and the DLQ inflow stat (the inflow alert's own window); every counter is
    wrapped in rate/increase."""
    cfg = RulesConfig()
    windows = set()
    for expr in dashboards.expressions():
        for window in [part.split("]")[0] for part in expr.split("[")[1:]]:
            windows.add(window)
            if window == cfg.slo_budget_window:
                assert expr.startswith("1 - avg_over_time("), expr
            elif window == cfg.dlq_inflow_window:
                assert f"increase({catalog.DLQ_DEAD_LETTERED.prom}" in expr, expr
            else:
                assert window == "$__rate_interval", expr
        for spec in catalog.CATALOG:
            if spec.kind is catalog.Kind.COUNTER and spec.prom in expr:
                assert f"rate({spec.prom}" in expr or f"increase({spec.prom}" in expr, expr
    assert windows == {"$__rate_interval", "30d", "10m"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: _promql.label(catalog.RETRY_CALLS, "breaker.name"), "has no label"),
        (lambda: _promql.value(catalog.BREAKER_STATE, "opened"), "is not a value"),
        (lambda: _promql.selector(catalog.RETRY_CALLS, part="bucket"), "has no series"),
        (
            lambda: _promql.selector(catalog.RETRY_CALLS, _promql.Matcher(catalog.BREAKER_NAME, "=", "x")),
            "has no label",
        ),
    ],
)
def test_unknown_names_fail_at_generation_time(call, message) -> None:
    """A label, label value or series the catalog does not declare never reaches a dashboard."""
    with pytest.raises(ValueError, match=message):
        call()
