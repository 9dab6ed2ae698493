"""The incident drill end to end: real Prometheus and Alertmanager page for each injected fault."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from examples.drill.stack import tools_available
from tests.conftest import require
from tests.drill.browser import check_report_in_chromium, chromium_binary, runbook_anchors

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = [
    ("breaker-open", "CircuitBreakerOpen", "critical"),
    ("pool-exhaustion", "DatabasePoolTimeouts", "critical"),
    ("s3-failures", "DependencyFailureRatioHigh", "critical"),
    ("dlq-inflow", "DeadLetterInflow", "warning"),
]


@pytest.mark.slow
def test_drill_pages_in_order_with_runbooks_and_traceable_examples(tmp_path: Path) -> None:
    """`python -m examples.drill` exits 0; every expected page arrived and resolved, in order,
    with the service label, a runbook anchor that exists, and an example failing request whose
    correlation ID is on every one of its log lines and on a span of its trace; afterwards every
    dashboard panel query returns data from the drill's Prometheus. The HTML report, whose path
    is the last line printed, opens in headless Chromium without an error, with the timeline
    and one chart per page, each page's trace drawn from the spans the drill's receiver kept."""
    require(tools_available(), "prometheus and alertmanager (scripts/install-tools.sh)")
    require(chromium_binary() is not None, "chromium (scripts/install-tools.sh)")
    out = tmp_path / "report"
    run = subprocess.run(
        [sys.executable, "-m", "examples.drill", "--out", str(out), "--timeout", "90"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    full = json.loads((out / "report.json").read_text(encoding="utf-8"))
    report = full["pages"]
    assert full["dashboards"]["empty"] == [], "a panel that shows nothing during an incident is a bug"
    assert full["dashboards"]["queries"] > 60
    assert [(r["scenario"], r["alertname"], r["labels"]["severity"]) for r in report] == EXPECTED
    assert all(r["paged"] and r["resolved"] for r in report)
    anchors = runbook_anchors(ROOT / "alerts" / "runbooks.md")
    for entry in report:
        assert entry["labels"]["job"] == "orders"
        assert entry["labels"]["alertname"] == entry["alertname"]
        assert set(entry["annotations"]) >= {
            "summary",
            "description",
            "runbook_url",
            "dashboard_url",
            "trace_search_url",
        }
        runbook = entry["annotations"]["runbook_url"]
        assert runbook.split("#", 1)[1] in anchors, runbook
        example = entry["example"]
        assert example["correlation_id"], entry["scenario"]
        assert example["logs"], entry["scenario"]
        assert {line["correlation_id"] for line in example["logs"]} == {example["correlation_id"]}
        assert example["span_has_correlation_id"], (entry["scenario"], example["spans"])
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "4 of 4 expected pages arrived and resolved" in markdown
    # The breaker-open fault parks receipts (PENDING_NETWORK_RECOVERY); the recovery job drains them.
    assert "| breaker-open | recovery backlog drained: " in markdown
    assert "| breaker-open | recovery backlog: 0 items parked" not in markdown
    assert markdown.count("- **dashboard_url**: http") == len(EXPECTED)
    assert markdown.count("- **trace_search_url**: http") == len(EXPECTED)
    assert run.stdout.splitlines()[-1] == f"HTML report: {out / 'report.html'}"
    opened = check_report_in_chromium(
        out / "report.html", pages=len(EXPECTED), runbooks=ROOT / "alerts" / "runbooks.md"
    )
    assert opened.facts["spans"] >= len(EXPECTED)
    record = json.loads((out / "record.json").read_text(encoding="utf-8"))
    assert [(page["alertname"], bool(page["panels"])) for page in record["pages"]] == [
        (alertname, True) for _, alertname, _ in EXPECTED
    ]
    for page in record["pages"]:
        assert page["example"]["trace"], page["scenario"]
        # both links open the alert's time range: from before its example request to now
        annotations = report[[r["alertname"] for r in report].index(page["alertname"])]["annotations"]
        since = int(annotations["dashboard_url"].rsplit("&from=", 1)[1].removesuffix("&to=now"))
        first = min(span["start"] for span in page["example"]["trace"])
        # an hour before the evaluation that paged, which came within minutes of the request
        assert (first - 3600 - 600) * 1000 <= since <= first * 1000, page["scenario"]
        pane = json.loads(unquote(annotations["trace_search_url"].split("&panes=", 1)[1]))["a"]
        assert pane["range"] == {"from": str(since), "to": "now"}, page["scenario"]
        assert all(span["end"] >= span["start"] > 0 and span["span_id"] for span in page["example"]["trace"])
        assert [bool(target["series"]) for panel in page["panels"] for target in panel["targets"]] == [
            True for panel in page["panels"] for _ in panel["targets"]
        ], page["scenario"]
        assert record["alerts"][page["alertname"]]["pending"], page["alertname"]
        assert record["alerts"][page["alertname"]]["firing"], page["alertname"]
    # Where the request failed is a span of its own: the pool checkout that timed out, the S3 operation.
    failed_children = {
        page["scenario"]: sorted(
            {span["name"] for span in page["example"]["trace"] if span["error"] and span["parent_span_id"]}
        )
        for page in record["pages"]
    }
    assert failed_children["pool-exhaustion"] == ["pool checkout"], failed_children
    assert failed_children["s3-failures"] == ["S3.PutObject"], failed_children
    assert opened.facts["spans"] > len(EXPECTED)  # the waterfalls draw more than the request spans
