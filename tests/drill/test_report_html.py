"""The drill's HTML report, rendered from a recorded drill (no Prometheus, no service)."""

from __future__ import annotations

import base64
import importlib.util
import json
import struct
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from examples.drill import evidence
from examples.drill.charts import alert_rows, legend_text
from examples.drill.report_html import waterfall, write_html
from telemetry.dashboards import substitute
from tests.conftest import require
from tests.drill.browser import check_report_in_chromium, chromium_binary

ROOT = Path(__file__).resolve().parents[2]
RECORD = Path(__file__).parent / "data" / "record.json"
RUNBOOKS = "https://github.com/resilience-telemetry/resilience-telemetry/blob/main/alerts/runbooks.md"


def _record() -> dict[str, Any]:
    return dict(json.loads(RECORD.read_text(encoding="utf-8")))


class _Outline(HTMLParser):
    """What a reader would find in the report: images, sections, links, rows, resources."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.sections: list[dict[str, Any]] = []
        self.fetching: list[str] = []  # anything the browser would load besides data: URIs
        self._in_correlation = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag in ("script", "link", "iframe", "object", "embed") or (tag == "img" and ":" not in attr["src"][:5]):
            self.fetching.append(tag)
        if tag == "img":
            self.images.append(attr)
            if not attr["src"].startswith("data:image/png;base64,"):
                self.fetching.append(attr["src"][:40])
            if self.sections:
                self.sections[-1]["charts"] += 1
        elif tag == "section":
            self.sections.append(
                {"id": attr["id"], "charts": 0, "runbook": None, "correlation_id": "", "spans": 0, "log_lines": 0}
            )
        elif self.sections and tag == "a" and attr.get("class") == "runbook":
            self.sections[-1]["runbook"] = attr["href"]
        elif self.sections and tag == "tr" and attr.get("class") in ("span-row", "log-line"):
            self.sections[-1]["spans" if attr["class"] == "span-row" else "log_lines"] += 1
        elif tag == "code" and attr.get("class") == "correlation-id":
            self._in_correlation = True

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_correlation:
            self.sections[-1]["correlation_id"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._in_correlation = False


def _png_size(src: str) -> tuple[int, int]:
    data = base64.b64decode(src.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_from_a_recorded_drill_has_a_chart_per_page_a_waterfall_and_the_logs(tmp_path: Path) -> None:
    """From a recorded drill, ``report.html`` holds the timeline chart and one chart per page as
    embedded PNGs (nothing to fetch), and per page its runbook link, the example request's
    correlation ID, one waterfall row per kept span and its log lines; the record is kept."""
    require(importlib.util.find_spec("matplotlib") is not None, "matplotlib (pip install '.[demo]')")
    record = _record()
    path = write_html(tmp_path, record)
    outline = _Outline()
    outline.feed(path.read_text(encoding="utf-8"))

    assert path == tmp_path / "report.html"
    assert json.loads((tmp_path / "record.json").read_text(encoding="utf-8")) == record
    assert outline.fetching == []
    assert [image["class"] for image in outline.images] == ["chart timeline"] + ["chart page-chart"] * 4
    assert [_png_size(image["src"]) for image in outline.images] == [
        (1100, 700),
        (1100, 320),
        (1100, 320),
        (1100, 570),
        (1100, 320),
    ]
    assert outline.sections == [
        {
            "id": "page-breaker-open",
            "charts": 1,
            "runbook": f"{RUNBOOKS}#circuitbreakeropen",
            "correlation_id": "drill-00202",
            "spans": 1,
            "log_lines": 1,
        },
        {
            "id": "page-pool-exhaustion",
            "charts": 1,
            "runbook": f"{RUNBOOKS}#databasepooltimeouts",
            "correlation_id": "drill-00287",
            "spans": 1,
            "log_lines": 2,
        },
        {
            "id": "page-s3-failures",
            "charts": 1,
            "runbook": f"{RUNBOOKS}#dependencyfailureratiohigh",
            "correlation_id": "drill-00934",
            "spans": 1,
            "log_lines": 1,
        },
        {
            "id": "page-dlq-inflow",
            "charts": 1,
            "runbook": f"{RUNBOOKS}#deadletterinflow",
            "correlation_id": "drill-01199",
            "spans": 1,
            "log_lines": 3,
        },
    ]
    text = " ".join("".join(outline.text).split())
    assert "4 of 4 expected pages arrived and resolved." in text
    assert "71 of 71 panel queries returned data from the drill's Prometheus." in text
    assert "A circuit breaker has not closed for longer than its limit." in text
    assert '{ resource.service.name = "orders" && span.breaker.name = "s3" && status = error }' in text


def test_a_recorded_report_opens_cleanly_in_headless_chromium(tmp_path: Path) -> None:
    """Opened in a real browser, the report from a recorded drill logs no error, loads every
    chart, links runbook anchors that exist and paints a full page."""
    require(importlib.util.find_spec("matplotlib") is not None, "matplotlib (pip install '.[demo]')")
    require(chromium_binary() is not None, "chromium (scripts/install-tools.sh)")
    report = write_html(tmp_path, _record())
    check_report_in_chromium(report, pages=4, runbooks=ROOT / "alerts" / "runbooks.md")


@pytest.mark.parametrize(
    ("link", "metrics", "rule", "titles"),
    [
        (
            "http://localhost:3000/d/rt-breakers?var-job=orders&var-instance=127.0.0.1%3A43381&var-breaker=s3",
            {"resilience_circuit_state"},
            {"op": "==", "value": 0.0},
            [
                ("Breaker state (worst instance)", {"value": 0.0, "label": "alert threshold (== 0)"}),
                ("State of $breaker by instance", {"value": 0.0, "label": "alert threshold (== 0)"}),
            ],
        ),
        (
            "http://localhost:3000/d/rt-pools?var-job=orders&var-pool=orders",
            {"db_client_connection_timeouts_total"},
            {"op": ">", "value": 0.0},
            [("Timeouts", {"value": 0.0, "label": "alert threshold (> 0)"})],
        ),
        (
            "http://localhost:3000/d/rt-dependencies?var-job=orders&var-dependency=s3",
            {"resilience_dependency_operations_total"},
            {"op": ">", "value": 0.3},
            [("Operations by outcome", None), ("Failure ratio", {"value": 0.3, "label": "alert threshold (> 0.3)"})],
        ),
    ],
)
def test_a_pages_panels_are_the_generated_dashboards_queries_with_the_links_variables(
    link: str, metrics: set[str], rule: dict[str, Any], titles: list[tuple[str, Any]]
) -> None:
    """The panels drawn for a page are those of the board its ``dashboard_url`` names that read
    the alert's metrics, each query exactly the generated dashboard JSON's expression with the
    link's variables and the rate interval filled in."""
    uid, variables = evidence.dashboard_link(link)
    panels = evidence.panels_for(evidence.load_dashboard(uid), metrics, variables, rate_interval="20s", rule=rule)

    model = next(
        json.loads(path.read_text(encoding="utf-8"))
        for path in (ROOT / "dashboards").glob("*.json")
        if json.loads(path.read_text(encoding="utf-8"))["uid"] == uid
    )
    committed = {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in model["panels"]}
    assert [(panel["title"], panel["threshold"]) for panel in panels] == titles
    for panel in panels:
        assert [t["expr"] for t in panel["targets"]] == [
            substitute(expr, rate_interval="20s", **variables) for expr in committed[panel["title"]]
        ]
        assert all("$" not in t["expr"] and 'job=~"orders"' in t["expr"] for t in panel["targets"])


def test_dashboard_links_name_a_board_and_its_variables() -> None:
    """A Grafana ``/d/<uid>`` link gives the board's uid and its ``var-`` values, decoded."""
    assert evidence.dashboard_link(
        "http://localhost:3000/d/rt-breakers?var-service=orders&var-instance=127.0.0.1%3A43381&var-breaker=s3&orgId=1"
    ) == ("rt-breakers", {"service": "orders", "instance": "127.0.0.1:43381", "breaker": "s3"})


def test_the_metrics_an_alert_reads_are_found_through_recording_rules() -> None:
    """Recording rules are expanded until catalog metrics remain; histogram series map back
    to their metric."""
    recorded = {
        "service_dependency:failed:ratio_rate20s": "sum(rate(resilience_dependency_operations_total[20s]))",
        "service_dependency:rate20s": "service_dependency:failed:ratio_rate20s * 0",
    }
    assert evidence.metrics_read("service_dependency:rate20s > 0.05", recorded) == {
        "resilience_dependency_operations_total"
    }
    assert evidence.metrics_read(
        "histogram_quantile(0.9, rate(db_client_connection_wait_time_seconds_bucket[1m])) > 1", {}
    ) == {"db_client_connection_wait_time_seconds"}


@pytest.mark.parametrize(
    ("query", "threshold"),
    [
        (
            'sum by (queue) (increase(resilience_dlq_dead_lettered_total{reason!="x"}[20s])) > 0',
            {"op": ">", "value": 0},
        ),
        ("a:ratio_rate20s > 0.3 and on (service) b:rate20s > 0.05", {"op": ">", "value": 0.3}),
        ('label_replace(max(x{state="closed"}) == 0, "d", "$1", "b", "(.*)")', {"op": "==", "value": 0}),
        ("vector(1)", None),
    ],
)
def test_the_threshold_is_the_rules_first_comparison_with_a_number(query: str, threshold: Any) -> None:
    """The line drawn as the alert threshold is the number the rule compares its series with."""
    assert evidence.rule_threshold(query) == threshold


def test_alert_sample_times_become_intervals() -> None:
    """Consecutive samples (one step apart) form one interval; a gap starts a new one."""
    assert evidence.intervals([10.0, 11.0, 12.0, 20.0, 21.0, 30.0], step=1.0) == [
        [10.0, 12.0],
        [20.0, 21.0],
        [30.0, 30.0],
    ]


def test_the_waterfall_draws_children_under_their_parent_in_start_order() -> None:
    """Spans are listed depth-first from the root, children by start time, each bar placed and
    sized on the trace's own time axis; an error span is marked."""

    def span(name: str, span_id: str, parent: str, start: float, end: float, *, error: bool = False) -> dict[str, Any]:
        return {
            "name": name,
            "span_id": span_id,
            "parent_span_id": parent,
            "start": start,
            "end": end,
            "error": error,
            "events": [],
        }

    html = waterfall(
        [
            span("SELECT", "c", "a", 100.5, 100.75),
            span("PUT /orders/{id}/receipt", "a", "", 100.0, 101.0, error=True),
            span("connect", "b", "a", 100.25, 100.5),
        ]
    )
    rows = html.split('<tr class="span-row">')[1:]
    assert [row.split("</td>")[0].split(">")[-1] for row in rows] == ["PUT /orders/{id}/receipt", "connect", "SELECT"]
    assert ['class="span error" style="left:0.00%;width:100.00%"' in rows[0]] == [True]
    assert 'class="span" style="left:25.00%;width:25.00%"' in rows[1]
    assert 'class="span" style="left:50.00%;width:25.00%"' in rows[2]
    assert "padding-left:1.8em" in rows[1]


def test_the_timeline_lists_the_drilled_alerts_first_then_the_others() -> None:
    """Rows: the expected pages in drill order, then other alerts that went pending, sorted."""
    assert alert_rows(_record()) == [
        "CircuitBreakerOpen",
        "DatabasePoolTimeouts",
        "DependencyFailureRatioHigh",
        "DeadLetterInflow",
        "CircuitBreakerOpenTimeHigh",
        "DatabasePoolSaturated",
        "DatabasePoolWaiters",
        "DegradedModeActive",
        "HttpAvailabilityBudgetBurn",
        "HttpLatencyBudgetBurn",
        "OutboxRelayStalled",
        "Watchdog",
    ]


def test_legends_fill_grafana_templates_from_series_labels() -> None:
    """``{{label}}`` placeholders take the series' label values, as Grafana's legend does."""
    assert legend_text("{{dependency}} {{operation}} {{outcome}}", {"dependency": "s3", "outcome": "throttled"}) == (
        "s3 throttled"
    )
    assert legend_text("", {"queue": "orders.created"}) == "queue=orders.created"
