"""What the HTML report draws, gathered while the drill's own Prometheus still runs.

The result is one JSON-ready mapping (written as ``record.json`` next to the report), so the
report can be re-rendered, and tested, without running a drill. Every panel query is read from
the generated dashboard JSON in ``dashboards/`` (the board the page's ``dashboard_url`` names),
with the link's variables filled in the way Grafana would fill them: the report shows what an
on-call engineer following the link would see, not a second copy of the queries.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telemetry import catalog
from telemetry.dashboards import substitute

if TYPE_CHECKING:
    from examples.drill.report import Outcome, Timeline
    from examples.drill.stack import SpanSeen, Stack

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
STEP = 1.0  # seconds between range-query points: the drill's scrape interval
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
# The first comparison of a series with a number: `... > 0.3`, `... == 0`.
_THRESHOLD = re.compile(r"(==|!=|>=|<=|>|<)\s*(?:bool\s+)?(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w.])")
_SERIES_NAMES = {name: spec.prom for spec in catalog.CATALOG for name in spec.series_names}


def prometheus_api(base_url: str, path: str, **params: str) -> Any:
    """The ``data`` member of one Prometheus HTTP API answer."""
    url = f"{base_url}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())["data"]


def query_range(base_url: str, expr: str, start: float, end: float, step: float = STEP) -> list[dict[str, Any]]:
    """A range query's matrix, values as floats (NaN and infinities become ``None``)."""
    matrix = prometheus_api(
        base_url, "/api/v1/query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}"
    )["result"]
    return [
        {"metric": series["metric"], "values": [[float(t), _finite(v)] for t, v in series["values"]]}
        for series in matrix
    ]


def _finite(text: str) -> float | None:
    number = float(text)
    return number if math.isfinite(number) else None


def intervals(times: list[float], step: float = STEP) -> list[list[float]]:
    """Sample times -> ``[start, end]`` runs; a gap longer than one and a half steps ends a run."""
    runs: list[list[float]] = []
    for at in sorted(times):
        if runs and at - runs[-1][1] <= step * 1.5:
            runs[-1][1] = at
        else:
            runs.append([at, at])
    return runs


AlertStates = dict[str, dict[str, list[list[float]]]]


def alert_states(base_url: str, start: float, end: float, step: float = STEP) -> AlertStates:
    """When each alert was pending and firing, from Prometheus's own ``ALERTS`` series."""
    times: dict[str, dict[str, set[float]]] = {}
    for series in query_range(base_url, "ALERTS", start, end, step):
        name, state = series["metric"].get("alertname", ""), series["metric"].get("alertstate", "")
        times.setdefault(name, {}).setdefault(state, set()).update(t for t, _ in series["values"])
    return {
        name: {state: intervals(sorted(by_state.get(state, ())), step) for state in ("pending", "firing")}
        for name, by_state in sorted(times.items())
    }


def rule_threshold(query: str) -> dict[str, Any] | None:
    """The comparison an alert rule pages on, e.g. ``{"op": ">", "value": 0.3}``."""
    match = _THRESHOLD.search(query)
    return {"op": match.group(1), "value": float(match.group(2))} if match else None


def metrics_read(query: str, recorded: dict[str, str]) -> set[str]:
    """Catalog metrics (Prometheus names) an expression reads, through recording rules."""
    found: set[str] = set()
    pending, seen = [query], set()
    while pending:
        expr = pending.pop()
        for word in _IDENTIFIER.findall(expr):
            if word in _SERIES_NAMES:
                found.add(_SERIES_NAMES[word])
            elif word in recorded and word not in seen:
                seen.add(word)
                pending.append(recorded[word])
    return found


def dashboard_link(url: str) -> tuple[str, dict[str, str]]:
    """``http://grafana/d/<uid>?var-x=1`` -> ``("<uid>", {"x": "1"})``."""
    parsed = urllib.parse.urlsplit(url)
    uid = parsed.path.rstrip("/").split("/d/", 1)[-1].split("/", 1)[0]
    variables = {
        key.removeprefix("var-"): value for key, value in urllib.parse.parse_qsl(parsed.query) if key.startswith("var-")
    }
    return uid, variables


def load_dashboard(uid: str, directory: Path = DASHBOARDS) -> dict[str, Any]:
    """The generated dashboard JSON whose ``uid`` is ``uid``."""
    for path in sorted(directory.glob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))
        if model.get("uid") == uid:
            return dict(model)
    msg = f"no dashboard with uid {uid!r} in {directory}"
    raise LookupError(msg)


def _red_step(panel: dict[str, Any]) -> float | None:
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    return next((float(s["value"]) for s in steps if s.get("color") == "red" and s.get("value") is not None), None)


def _line(panel: dict[str, Any], rule: dict[str, Any] | None) -> dict[str, Any] | None:
    """The threshold drawn on a panel: the rule's own, where it means the same on this panel
    (the dashboard's red line at the same value, or "more than zero", which holds for a rate as
    for an increase); otherwise the dashboard's red line; otherwise none."""
    red = _red_step(panel)
    if rule is not None and (red == rule["value"] or (red is None and rule["value"] == 0)):
        return {"value": rule["value"], "label": f"alert threshold ({rule['op']} {rule['value']:g})"}
    if red is not None:
        return {"value": red, "label": "dashboard threshold"}
    return None


def _mappings(panel: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for mapping in panel.get("fieldConfig", {}).get("defaults", {}).get("mappings", []):
        if mapping.get("type") == "value":
            out.update({value: option.get("text", value) for value, option in mapping.get("options", {}).items()})
    return out


def panels_for(
    dashboard: dict[str, Any],
    metrics: set[str],
    variables: dict[str, str],
    *,
    rate_interval: str,
    rule: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The dashboard's panels that read one of ``metrics``, their queries as Grafana would send
    them for the link's ``variables``, and the threshold line each one gets."""
    chosen = []
    for panel in dashboard.get("panels", []):
        targets = [t for t in panel.get("targets", []) if t.get("expr")]
        if not any(metrics_read(t["expr"], {}) & metrics for t in targets):
            continue
        chosen.append(
            {
                "id": panel.get("id"),
                "title": panel.get("title", ""),
                "type": panel.get("type", ""),
                "unit": panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
                "mappings": _mappings(panel),
                "threshold": _line(panel, rule),
                "targets": [
                    {
                        "expr": substitute(t["expr"], rate_interval=rate_interval, **variables),
                        "legend": t.get("legendFormat", ""),
                    }
                    for t in targets
                ],
            }
        )
    return chosen


def span_record(span: SpanSeen) -> dict[str, Any]:
    """One kept span as plain JSON (attribute values that are not scalars become text)."""
    return {
        "name": span.name,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "start": span.start,
        "end": span.end,
        "error": span.error,
        "events": list(span.events),
        "attributes": {
            key: value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
            for key, value in span.attributes.items()
        },
    }


def coverage_by_board(coverage: dict[str, Any], directory: Path = DASHBOARDS) -> list[dict[str, Any]]:
    """Panel coverage per generated dashboard: its panels, its queries, which came back empty."""
    empty = set(coverage.get("empty", []))
    boards = []
    for path in sorted(directory.glob("*.json")):
        model = json.loads(path.read_text(encoding="utf-8"))
        panels = [p for p in model.get("panels", []) if p.get("targets")]
        exprs = list(dict.fromkeys(t["expr"] for p in panels for t in p["targets"] if t.get("expr")))
        boards.append(
            {
                "title": model.get("title", path.stem),
                "uid": model.get("uid", ""),
                "panels": len(panels),
                "queries": len(exprs),
                "empty": [expr for expr in exprs if expr in empty],
            }
        )
    return boards


def _faults(timeline: Timeline) -> list[dict[str, Any]]:
    faults: dict[str, dict[str, Any]] = {}
    for moment in timeline.moments:
        if moment.what.startswith("fault injected"):
            faults[moment.step] = {"scenario": moment.step, "start": moment.at, "end": None}
        elif moment.what == "fault removed" and moment.step in faults:
            faults[moment.step]["end"] = moment.at
    return list(faults.values())


def collect(
    stack: Stack,
    timeline: Timeline,
    outcomes: list[Outcome],
    coverage: dict[str, Any],
    *,
    rate_interval: str,
) -> dict[str, Any]:
    """Everything :func:`examples.drill.report_html.write_html` draws, as plain JSON."""
    ended = time.time()
    base = stack.prometheus_url
    groups = prometheus_api(base, "/api/v1/rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    recorded = {rule["name"]: rule["query"] for rule in rules if rule["type"] == "recording"}
    alerting = {rule["name"]: rule for rule in rules if rule["type"] == "alerting"}
    pages = []
    for outcome in outcomes:
        page = outcome.page
        rule = alerting.get(outcome.alertname, {})
        threshold = rule_threshold(rule.get("query", ""))
        entry: dict[str, Any] = {
            "scenario": outcome.name,
            "alertname": outcome.alertname,
            "fault": outcome.fault,
            "paged_at": page.received_at if page else None,
            "resolved_at": outcome.resolved.received_at if outcome.resolved else None,
            "receiver": page.receiver if page else "",
            "labels": page.labels if page else {},
            "annotations": page.annotations if page else {},
            "rule": {"query": rule.get("query", ""), "for": rule.get("duration", 0), "threshold": threshold},
            "dashboard": {},
            "panels": [],
            "example": dict(outcome.example),
        }
        link = entry["annotations"].get("dashboard_url", "")
        if link:
            uid, variables = dashboard_link(link)
            dashboard = load_dashboard(uid)
            entry["dashboard"] = {"uid": uid, "title": dashboard.get("title", uid), "variables": variables}
            metrics = metrics_read(rule.get("query", ""), recorded)
            for panel in panels_for(dashboard, metrics, variables, rate_interval=rate_interval, rule=threshold):
                for target in panel["targets"]:
                    target["series"] = query_range(base, target["expr"], timeline.started, ended)
                entry["panels"].append(panel)
        trace_id = entry["example"].get("trace_id")
        if trace_id:  # the receiver has had the whole drill to get every span of the trace
            entry["example"]["trace"] = [span_record(span) for span in stack.otlp.trace(trace_id)]
        pages.append(entry)
    return {
        "started": timeline.started,
        "ended": ended,
        "step": STEP,
        "rate_interval": rate_interval,
        "faults": _faults(timeline),
        "alerts": alert_states(base, timeline.started, ended),
        "pages": pages,
        "coverage": {**coverage, "boards": coverage_by_board(coverage)} if coverage else {},
        "timeline": [{"at": m.at, "step": m.step, "what": m.what} for m in timeline.moments],
    }
