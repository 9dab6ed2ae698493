"""A thin wrapper over grafanalib 0.7.1 that emits clean, current Grafana dashboard JSON.

grafanalib builds the panels, variables and links; this module describes dashboards with a
few small dataclasses and normalises grafanalib's output where the library lags behind current
Grafana (10 to 12): it drops legacy keys (``rows``, ``hideControls``, ``sharedCrosshair``,
``style``, ``__inputs``, ``timepicker.time_options``, per-panel ``span``/``height``/``error``)
and ``null`` values, points every query at the ``datasource`` variable by uid, adds
``exemplar`` to latency targets (grafanalib's ``Target`` has no such field), fills the option
fields current panels require, and lays panels out on the 24-column grid.

grafanalib is imported inside functions: it is a dev/ops dependency
(``pip install 'resilience-telemetry[dashboards]'``), never needed at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote

__all__ = [
    "DATASOURCE",
    "SCHEMA_VERSION",
    "Board",
    "Panel",
    "Query",
    "Row",
    "Variable",
    "render",
]

# Grafana 10.4/11.0's dashboard schema: newer Grafana runs only its migrations past 39, which
# are no-ops on this clean JSON (string refresh, no time_options); older schema numbers would
# trigger the graph/singlestat-era migrations.
SCHEMA_VERSION: Final = 39
TAG: Final = "resilience-telemetry"
DATASOURCE: Final = {"type": "prometheus", "uid": "${prometheus_datasource}"}
# Default datasource uids, as provisioned by the project's docker-compose stack.
_DEFAULT_UIDS: Final = {"prometheus": "prometheus", "loki": "loki", "tempo": "tempo"}
_ALL: Final = {"selected": True, "text": "All", "value": "$__all"}

PanelKind = Literal["timeseries", "stat", "state-timeline", "alertlist"]

_PANEL_KEYS: Final = frozenset(
    {"type", "id", "title", "description", "datasource", "gridPos", "targets", "fieldConfig", "options", "links"}
    | {"repeat", "repeatDirection", "maxPerRow"}
)
_TARGET_KEYS: Final = frozenset({"expr", "legendFormat", "refId", "instant"})
_VARIABLE_KEYS: Final = frozenset(
    {"type", "name", "label", "description", "query", "datasource", "current", "hide", "includeAll", "multi"}
    | {"options", "refresh", "regex", "sort", "allValue"}
)
_DASHBOARD_DROP: Final = frozenset({"__inputs", "rows", "hideControls", "sharedCrosshair", "style", "gnetId", "id"})


@dataclass(frozen=True, slots=True)
class _Json:
    """Already-built JSON data (grafanalib's ``Panel.panel_json``) in the encoder's protocol."""

    data: dict[str, Any]

    def to_json_data(self) -> dict[str, Any]:
        return self.data


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL target. ``exemplar`` asks Grafana for exemplars (trace links) too."""

    expr: str
    legend: str
    exemplar: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    """A data panel. ``mappings`` maps numeric values to (text, colour) for state panels;
    ``steps`` are (value, colour) thresholds: lines on a time series, colours on a stat, with
    ``base`` the colour below the first step; ``threshold`` is a single red step. ``repeat``
    repeats the panel for each selected value of that variable. ``links`` are data links
    (title, url) on the panel's values. A ``listing`` stat shows one named, coloured line per
    series (per service), so stats side by side read as a table with a row per service."""

    title: str
    description: str
    unit: str
    queries: tuple[Query, ...] = ()
    kind: PanelKind = "timeseries"
    width: int = 12
    height: int = 8
    stack: bool = False
    threshold: float | None = None
    steps: tuple[tuple[float, str], ...] = ()
    base: str = "green"
    mappings: tuple[tuple[int, str, str], ...] = ()
    repeat: str | None = None
    links: tuple[tuple[str, str], ...] = ()
    listing: bool = False

    @property
    def all_steps(self) -> tuple[tuple[float, str], ...]:
        return (*self.steps, (self.threshold, "red")) if self.threshold is not None else self.steps


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """A dashboard row; ``repeat`` repeats the whole row for each selected value of that variable."""

    title: str
    panels: tuple[Panel, ...]
    repeat: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Variable:
    """A query variable: the values of ``label`` on ``metric`` (a series that always exists),
    filtered by ``scope`` (the configured selector) and the identity variables declared before
    it (``identity``: the service and instance variables, which narrow every later list)."""

    name: str
    title: str
    metric: str
    label: str
    description: str
    identity: bool = False
    scope: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Board:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    variables: tuple[Variable, ...]
    # dashboard links to logs and traces: (title, url) pairs, also on every exemplar panel
    links: tuple[tuple[str, str], ...] = ()
    service_label: str = "job"
    time_from: str = "now-1h"


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value if v is not None]
    return value


def _grafanalib() -> Any:
    try:
        import grafanalib.core
    except ImportError as exc:
        msg = "dashboard generation needs grafanalib: pip install 'resilience-telemetry[dashboards]'"
        raise ImportError(msg) from exc
    return grafanalib.core


def _plain(obj: Any) -> Any:
    """grafanalib's JSON data as plain dicts and lists (its encoder resolves nested objects),
    with ``null`` values dropped: current Grafana wants absent keys, not nulls."""
    from grafanalib._gen import DashboardEncoder

    return _strip_nulls(json.loads(json.dumps(obj.to_json_data(), cls=DashboardEncoder)))


def _thresholds(panel: Panel) -> list[dict[str, Any]]:
    # rounded as PromQL prints thresholds: 0.005, not 0.0050000000000000044
    steps = ({"color": color, "value": round(v, 9)} for v, color in panel.all_steps)
    return [{"color": panel.base, "value": None}, *steps]


def _mappings(panel: Panel) -> list[dict[str, Any]]:
    if not panel.mappings:
        return []
    options = {
        str(value): {"text": text, "color": color, "index": index}
        for index, (value, text, color) in enumerate(panel.mappings)
    }
    return [{"type": "value", "options": options}]


def _data_links(panel: Panel) -> list[dict[str, Any]]:
    """Data links on the values: Grafana fills ``${__field.labels.x}`` and ``${__from}`` from
    the point clicked, so a click on one series opens that series' traces or logs."""
    return [
        {"title": title, "url": url, "targetBlank": True, "type": "link", "icon": "external link", "tooltip": title}
        | {"tags": [], "asDropdown": False, "includeVars": False, "keepTime": False}
        for title, url in panel.links
    ]


def _targets(g: Any, panel: Panel) -> list[Any]:
    return [
        g.Target(expr=query.expr, legendFormat=query.legend, refId=chr(ord("A") + index))
        for index, query in enumerate(panel.queries)
    ]


def _build(g: Any, panel: Panel, grid: Any, links: list[dict[str, Any]], service_label: str) -> dict[str, Any]:
    """grafanalib's JSON for one panel, before cleaning."""
    common = {
        "title": panel.title,
        "description": panel.description,
        "gridPos": grid,
        "targets": _targets(g, panel),
        "links": links,
        "dataSource": DATASOURCE,
    }
    defaults: dict[str, Any] = {"unit": panel.unit, "mappings": _mappings(panel)}
    if panel.links:
        defaults["links"] = _data_links(panel)
    if panel.kind == "timeseries":
        built: dict[str, Any] = _plain(
            g.TimeSeries(
                **common,
                unit=panel.unit,
                fillOpacity=30 if panel.stack else 10,
                stacking={"mode": "normal", "group": "A"} if panel.stack else {"mode": "none", "group": "A"},
                thresholds=_thresholds(panel),
                thresholdsStyleMode="line" if panel.all_steps else "off",
                tooltipMode="multi",
                tooltipSort="desc",
                legendDisplayMode="table",
                legendPlacement="right",
                legendCalcs=["lastNotNull", "max"],
            )
        )
    elif panel.kind == "stat":
        built = _plain(
            g.Stat(
                **common,
                format=panel.unit,
                reduceCalc="lastNotNull",
                thresholds=_thresholds(panel),
                mappings=_mappings(panel),
                orientation="horizontal" if panel.listing else "auto",
                textMode="value_and_name" if panel.listing else "auto",
            )
        )
        built["options"] |= {"wideLayout": True, "showPercentChange": False, "percentChangeColorMode": "standard"}
        built["fieldConfig"]["defaults"].pop("noValue", None)
    elif panel.kind == "state-timeline":
        built = _plain(g.StateTimeline(**common, mappings=_mappings(panel), rowHeight=0.8))
        built["options"]["tooltip"]["sort"] = "none"
    else:
        base = g.Panel(**common)
        built = _plain(_Json(base.panel_json({"type": "alertlist", "options": _alertlist_options(service_label)})))
        defaults = {"unit": panel.unit}
        built["fieldConfig"] = {"defaults": {}, "overrides": []}
    built["fieldConfig"].setdefault("overrides", [])
    built["fieldConfig"]["defaults"].update(defaults)
    if panel.kind != "alertlist":
        # after _plain: the base step's value is a required null
        built["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": _thresholds(panel)}
    legend = built.get("options", {}).get("legend")
    if legend is not None:
        legend |= {"showLegend": True, "calcs": legend.get("calcs", [])}
    if panel.repeat is not None:
        built |= {"repeat": panel.repeat, "repeatDirection": "h", "maxPerRow": 4}
    return built


def _alertlist_options(service_label: str) -> dict[str, Any]:
    return {
        "viewMode": "list",
        "groupMode": "default",
        "groupBy": [],
        "maxItems": 20,
        "sortOrder": 1,
        "dashboardAlerts": False,
        "alertName": "",
        "alertInstanceLabelFilter": f'{{{service_label}=~"${service_label}"}}',
        "stateFilter": {"firing": True, "pending": True, "noData": False, "normal": False, "error": True},
    }


def _clean_panel(built: dict[str, Any], panel: Panel, panel_id: int) -> dict[str, Any]:
    clean = {key: value for key, value in built.items() if key in _PANEL_KEYS}
    clean["id"] = panel_id
    defaults = clean["fieldConfig"]["defaults"]
    for key in ("min", "max", "decimals"):
        defaults.pop(key, None)
    custom = defaults.get("custom", {})
    for key in ("axisSoftMin", "axisSoftMax"):
        custom.pop(key, None)
    if not defaults.get("mappings"):
        defaults.pop("mappings", None)
    if panel.kind == "alertlist":
        clean.pop("targets", None)
        clean.pop("datasource", None)
        return clean
    clean["datasource"] = dict(DATASOURCE)
    clean["targets"] = [
        {key: value for key, value in target.items() if key in _TARGET_KEYS}
        | {"datasource": dict(DATASOURCE), "exemplar": query.exemplar, "range": True, "editorMode": "code"}
        for target, query in zip(clean["targets"], panel.queries, strict=True)
    ]
    return clean


def _layout(g: Any, board: Board) -> list[dict[str, Any]]:
    """Rows one under another; inside a row, panels left to right, wrapping at 24 columns."""
    panels: list[dict[str, Any]] = []
    links = _external_links(g, board)
    y = 0
    next_id = 1
    for row in board.rows:
        row_json = _plain(g.RowPanel(title=row.title, gridPos=g.GridPos(h=1, w=24, x=0, y=y)))
        panels.append(
            {"type": "row", "id": next_id, "title": row.title, "collapsed": False, "panels": []}
            | {"gridPos": row_json["gridPos"]}
            | ({"repeat": row.repeat} if row.repeat else {})
        )
        next_id += 1
        y += 1
        x = 0
        row_height = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            grid = g.GridPos(h=panel.height, w=panel.width, x=x, y=y)
            # latency panels carry the trace and log links next to their exemplars
            panel_links = links if any(query.exemplar for query in panel.queries) else []
            built = _build(g, panel, grid, panel_links, board.service_label)
            panels.append(_clean_panel(built, panel, next_id))
            next_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return panels


def _variables(g: Any, board: Board) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = [
        # named and labelled as Grafana's dashboard linter asks of several datasource variables
        _datasource_variable(g, "prometheus_datasource", "Prometheus data source", "prometheus"),
        _datasource_variable(g, "loki_datasource", "Loki data source", "loki"),
        _datasource_variable(g, "tempo_datasource", "Tempo data source", "tempo"),
    ]
    scope: list[str] = []
    for variable in board.variables:
        matchers = [variable.scope, *scope] if variable.scope else scope
        selector = f"{variable.metric}{{{', '.join(matchers)}}}" if matchers else variable.metric
        query = f"label_values({selector}, {variable.label})"
        built = _plain(
            g.Template(
                name=variable.name,
                label=variable.title,
                query=query,
                dataSource=DATASOURCE,
                includeAll=True,
                multi=True,
                # All on an identity variable means "any service": `.+` never matches a series
                # that lacks the label (the linter's rule for job and instance)
                allValue=".+" if variable.identity else ".*",
                refresh=2,
                sort=1,
            )
        )
        clean = {key: value for key, value in built.items() if key in _VARIABLE_KEYS}
        clean |= {"description": variable.description, "current": dict(_ALL), "options": [], "regex": ""}
        clean["definition"] = query
        variables.append(clean)
        if variable.identity:
            scope.append(f'{variable.label}=~"${variable.name}"')
    for name, title, description in (
        ("correlation_id", "Correlation ID", "Correlation ID for the log link (from an error body or a log line)."),
        ("trace_id", "Trace ID", "Trace ID for the log and trace links (from an exemplar or a log line)."),
    ):
        variables.append(
            {"type": "textbox", "name": name, "label": title, "description": description, "query": ""}
            | {"current": {"text": "", "value": ""}, "options": [], "hide": 0}
        )
    return variables


def _datasource_variable(g: Any, name: str, title: str, plugin: str) -> dict[str, Any]:
    built = g.Template(name=name, label=title, query=plugin, type="datasource", default=_DEFAULT_UIDS[plugin])
    clean = {key: value for key, value in _plain(built).items() if key in _VARIABLE_KEYS}
    uid = _DEFAULT_UIDS[plugin]
    return clean | {
        "current": {"selected": True, "text": uid, "value": uid},
        "description": f"The {plugin} datasource.",
        "options": [],
        "refresh": 1,
        "regex": "",
        "hide": 0,
    }


def _annotations(service_label: str) -> dict[str, Any]:
    return {
        "list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            },
            {
                "datasource": dict(DATASOURCE),
                "enable": True,
                "hide": False,
                "iconColor": "red",
                "name": "Firing alerts",
                "expr": alert_annotation_expr(service_label),
                "step": "60s",
                "titleFormat": "{{alertname}}",
                "textFormat": "{{severity}}: {{alertname}} on {{instance}}",
                "tagKeys": "alertname,severity",
                "useValueForTime": False,
            },
        ]
    }


def alert_annotation_expr(service_label: str) -> str:
    """Prometheus's own ``ALERTS`` series (firing alerts) of the selected services."""
    return f'ALERTS{{alertstate="firing", {service_label}=~"${service_label}"}}'


def explore_url(datasource: str, query: dict[str, Any]) -> str:
    """A Grafana Explore link; ``${...}`` variables stay readable so Grafana interpolates them."""
    pane = {"datasource": datasource, "queries": [query], "range": {"from": "${__from}", "to": "${__to}"}}
    return "/explore?schemaVersion=1&orgId=1&panes=" + quote(
        json.dumps({"a": pane}, sort_keys=True, separators=(",", ":")), safe="${}:,"
    )


def _external_links(g: Any, board: Board) -> list[dict[str, Any]]:
    """Links to logs and traces, on the dashboard and on its latency panels."""
    return [
        _plain(
            g.DashboardLink(
                title=title, type="link", uri=url, icon="external link", tooltip=title, targetBlank=True, keepTime=False
            )
        )
        for title, url in board.links
    ]


def _links(g: Any, board: Board) -> list[dict[str, Any]]:
    dashboards = g.DashboardLink(
        title="Resilience dashboards", type="dashboards", tags=[TAG], asDropdown=True, includeVars=True, keepTime=True
    )
    return [_plain(dashboards), *_external_links(g, board)]


def render(board: Board) -> dict[str, Any]:
    """The dashboard's JSON model, ready for import or file provisioning."""
    g = _grafanalib()
    built = g.Dashboard(
        title=board.title,
        uid=board.uid,
        description=board.description,
        tags=[TAG],
        timezone="browser",
        editable=False,
        graphTooltip=1,
        refresh="30s",
        time=g.Time(board.time_from, "now"),
        schemaVersion=SCHEMA_VERSION,
        version=1,
        panels=[],
    )
    dashboard = {key: value for key, value in _plain(built).items() if key not in _DASHBOARD_DROP}
    dashboard["timepicker"] = {"refresh_intervals": dashboard["timepicker"]["refresh_intervals"]}
    dashboard["panels"] = _layout(g, board)
    dashboard["templating"] = {"list": _variables(g, board)}
    dashboard["annotations"] = _annotations(board.service_label)
    dashboard["links"] = _links(g, board)
    dashboard["fiscalYearStartMonth"] = 0
    dashboard["liveNow"] = False
    return dashboard
