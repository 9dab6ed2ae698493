"""``report.html``: the drill told in pictures, from a drill record (see :mod:`.evidence`).

One self-contained file: the charts are PNGs embedded as ``data:`` URIs, the styles are inline,
there is no script and nothing is fetched, so the report opens the same from a CI artefact, a
mail attachment or a laptop without network. Links (runbooks, dashboards, trace search) are
plain anchors for the reader to follow.

Re-render a report from its record: ``python -m examples.drill.report_html demo-report``.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from examples.drill.charts import page_png, timeline_png

_HIDDEN_LOG_FIELDS = ("timestamp", "level", "event", "logger", "trace_id", "span_id", "correlation_id", "service")
_LOG_LINES_SHOWN = 12
_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1150px; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
img.chart { max-width: 100%; border: 1px solid #ddd; }
code, pre { font-size: 0.85em; background: #f6f6f6; }
pre { padding: 0.6em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
.ok { color: #1e7b45; } .bad { color: #b3261e; font-weight: bold; }
.waterfall td.bar { width: 55%; }
.waterfall .track { position: relative; height: 14px; background: #f3f3f3; }
.waterfall .span { position: absolute; top: 0; height: 14px; background: #4a78b5; min-width: 2px; }
.waterfall .span.error { background: #d64545; }
dl.links dt { font-weight: bold; } dl.links dd { margin: 0 0 0.4em 1em; word-break: break-all; }
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _image(png: bytes, alt: str, kind: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="chart {kind}" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _seconds(later: float | None, earlier: float | None) -> str:
    if later is None or earlier is None:
        return '<span class="bad">never</span>'
    return f"{later - earlier:.0f}s"


def _fault(record: dict[str, Any], scenario: str) -> dict[str, Any]:
    return next((f for f in record["faults"] if f["scenario"] == scenario), {"start": None, "end": None})


def _first(runs: list[list[float]]) -> float | None:
    return runs[0][0] if runs else None


def _summary_table(record: dict[str, Any]) -> str:
    rows = []
    for page in record["pages"]:
        fault = _fault(record, page["scenario"])
        states = record["alerts"].get(page["alertname"], {})
        rows.append(
            "<tr>"
            f"<td>{_e(page['scenario'])}</td><td><code>{_e(page['alertname'])}</code></td>"
            f"<td>{_e(page['labels'].get('severity', ''))}</td>"
            f"<td>{_seconds(_first(states.get('pending', [])), fault['start'])}</td>"
            f"<td>{_seconds(_first(states.get('firing', [])), fault['start'])}</td>"
            f"<td>{_seconds(page['paged_at'], fault['start'])}</td>"
            f"<td>{_seconds(page['resolved_at'], fault['end'])}</td>"
            "</tr>"
        )
    return (
        "<table><tr><th>scenario</th><th>alert</th><th>severity</th><th>pending after fault</th>"
        "<th>firing after fault</th><th>paged after fault</th><th>resolved after fix</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _after_slash(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def _dashboard_text(page: dict[str, Any]) -> str:
    dashboard = page["dashboard"]
    variables = ", ".join(f"{k}={v}" for k, v in dashboard.get("variables", {}).items())
    return f"{dashboard.get('title', 'dashboard')} ({variables})"


def _traceql(url: str) -> str:
    """The TraceQL query inside a Grafana Explore link, which says more than the link."""
    panes = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("panes", [""])[0]
    try:
        queries = [q["query"] for pane in json.loads(panes).values() for q in pane.get("queries", [])]
    except (ValueError, AttributeError, KeyError, TypeError):
        return url
    return " ".join(queries) or url


def _links(page: dict[str, Any]) -> str:
    annotations = page["annotations"]
    items = [
        f"<dt>{_e(title)}</dt><dd>{_e(annotations[key])}</dd>"
        for key, title in (("summary", "Summary"), ("description", "Description"))
        if key in annotations
    ]
    shown = {
        "runbook_url": ("Runbook", "runbook", _after_slash),
        "dashboard_url": ("Dashboard", "dashboard", lambda _url: _dashboard_text(page)),
        "trace_search_url": ("Trace search", "trace-search", _traceql),
    }
    items += [
        f'<dt>{_e(title)}</dt><dd><a class="{cls}" href="{_e(annotations[key])}">{_e(text(annotations[key]))}</a></dd>'
        for key, (title, cls, text) in shown.items()
        if key in annotations
    ]
    labels = ", ".join(f"{k}={v}" for k, v in sorted(page["labels"].items()))
    items.append(f"<dt>Labels</dt><dd><code>{_e(labels)}</code></dd>")
    return '<dl class="links">' + "".join(items) + "</dl>"


def _queries(record: dict[str, Any], page: dict[str, Any]) -> str:
    rule = page["rule"]
    lines = [
        f"<li><b>{_e(panel['title'])}</b>: "
        + "; ".join(f"<code>{_e(target['expr'])}</code>" for target in panel["targets"])
        + "</li>"
        for panel in page["panels"]
    ]
    threshold = rule.get("threshold")
    paging = f"{threshold['op']} {threshold['value']:g}" if threshold else "no numeric threshold"
    return (
        "<p>Dashed red line: the number the alert rule compares with (or the dashboard's own red line); "
        "blue band: the fault; red band: the alert firing; dotted line: the page reaching the pager.</p>"
        f"<p>Panels of the <i>{_e(page['dashboard'].get('title', '?'))}</i> dashboard that read this alert's "
        f"metrics, queried over the drill's Prometheus with <code>$__rate_interval</code> = "
        f"{_e(record['rate_interval'])}:</p><ul>{''.join(lines)}</ul>"
        f"<p>The alert rule (paging on <code>{_e(paging)}</code> for {rule.get('for', 0):g}s): "
        f"<code>{_e(rule.get('query', ''))}</code></p>"
    )


def _ordered_spans(spans: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Spans depth-first from their roots, each with its depth, children by start time."""
    ids = {span["span_id"] for span in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else ""
        children.setdefault(parent, []).append(span)
    out: list[tuple[int, dict[str, Any]]] = []

    def walk(parent: str, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s["start"]):
            out.append((depth, span))
            walk(span["span_id"], depth + 1)

    walk("", 0)
    return out


def waterfall(spans: list[dict[str, Any]]) -> str:
    """The trace as a table of span bars, positioned on the trace's own time axis."""
    if not spans:
        return "<p>The OTLP receiver kept no span of this trace.</p>"
    start = min(span["start"] for span in spans)
    total = max(max(span["end"] for span in spans) - start, 1e-6)
    rows = []
    for depth, span in _ordered_spans(spans):
        left = (span["start"] - start) / total * 100
        width = (span["end"] - span["start"]) / total * 100
        events = ", ".join(span["events"])
        attributes = "\n".join(f"{k} = {v}" for k, v in sorted(span.get("attributes", {}).items()))
        rows.append(
            '<tr class="span-row">'
            f'<td style="padding-left:{0.6 + depth * 1.2:.1f}em" title="{_e(attributes)}">{_e(span["name"])}</td>'
            f"<td>{(span['end'] - span['start']) * 1000:.1f} ms</td>"
            f'<td class="bar"><div class="track"><div class="span{" error" if span["error"] else ""}" '
            f'style="left:{left:.2f}%;width:{width:.2f}%"></div></div></td>'
            f"<td>{_e(events)}</td></tr>"
        )
    return (
        '<table class="waterfall"><tr><th>span</th><th>duration</th><th>timeline</th><th>events</th></tr>'
        + "".join(rows)
        + "</table>"
    )


def _logs(lines: list[dict[str, Any]]) -> str:
    if not lines:
        return "<p>No log line carries this correlation ID.</p>"
    rows = []
    for line in lines[:_LOG_LINES_SHOWN]:
        rest = {k: v for k, v in line.items() if k not in _HIDDEN_LOG_FIELDS and k != "exception"}
        exception = (
            f"<details><summary>exception</summary><pre>{_e(line['exception'])}</pre></details>"
            if "exception" in line
            else ""
        )
        rows.append(
            f'<tr class="log-line"><td>{_e(line.get("timestamp", ""))}</td><td>{_e(line.get("level", ""))}</td>'
            f"<td><code>{_e(line.get('event', ''))}</code></td>"
            f"<td><code>{_e(json.dumps(rest, sort_keys=True))}</code>{exception}</td></tr>"
        )
    more = len(lines) - _LOG_LINES_SHOWN
    return (
        "<table><tr><th>timestamp</th><th>level</th><th>event</th><th>fields</th></tr>"
        + "".join(rows)
        + "</table>"
        + (f"<p>{more} more lines in <code>service.log</code>.</p>" if more > 0 else "")
    )


def _example(page: dict[str, Any]) -> str:
    example = page["example"]
    if not example:
        return '<p class="bad">No failing request was found for this page.</p>'
    return (
        f"<h3>Example failing request</h3><p><code>{_e(example.get('request', ''))}</code>, correlation ID "
        f'<code class="correlation-id">{_e(example.get("correlation_id", ""))}</code>, trace ID '
        f"<code>{_e(example.get('trace_id') or '?')}</code>.</p>"
        f"<h4>Its trace</h4>{waterfall(example.get('trace', []))}"
        f"<h4>Its log lines</h4>{_logs(example.get('logs', []))}"
    )


def _coverage(record: dict[str, Any]) -> str:
    coverage = record.get("coverage") or {}
    if not coverage:
        return "<p>Panel coverage was not measured.</p>"
    boards = coverage.get("boards", [])
    rows = "".join(
        f"<tr><td>{_e(board['title'])}</td><td>{board['panels']}</td><td>{board['queries']}</td>"
        f'<td class="{"ok" if not board["empty"] else "bad"}">{board["queries"] - len(board["empty"])}</td>'
        f"<td>{'<br>'.join(f'<code>{_e(expr)}</code>' for expr in board['empty'])}</td></tr>"
        for board in boards
    )
    with_data = coverage["queries"] - len(coverage["empty"])
    return (
        f"<p>{with_data} of {coverage['queries']} panel queries returned data from the drill's Prometheus.</p>"
        "<table><tr><th>dashboard</th><th>panels</th><th>queries</th><th>with data</th><th>empty queries</th></tr>"
        + rows
        + "</table>"
    )


def render(record: dict[str, Any]) -> str:
    """The whole report as one HTML document."""
    pages = record["pages"]
    ok = sum(page["paged_at"] is not None and page["resolved_at"] is not None for page in pages)
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record["started"]))
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Incident drill report</title><style>{_STYLE}</style></head><body>",
        "<h1>Incident drill report</h1>",
        (
            f"<p>Started {started}, {record['ended'] - record['started']:.0f}s long; "
            f"{ok} of {len(pages)} expected pages arrived and resolved.</p>"
        ),
        "<h2>The drill at a glance</h2>",
        _image(timeline_png(record), "Timeline: faults, alert states and page arrivals", "timeline"),
        _summary_table(record),
    ]
    for page in pages:
        anchor = f"page-{page['scenario']}"
        parts += [
            f'<section class="page" id="{_e(anchor)}">',
            f"<h2>{_e(page['scenario'])}: <code>{_e(page['alertname'])}</code></h2>",
            f"<p>Fault injected: <code>{_e(json.dumps(page['fault'], sort_keys=True))}</code></p>",
            _links(page),
            _image(page_png(record, page), f"Dashboard panels for {page['alertname']}", "page-chart"),
            _queries(record, page),
            _example(page),
            "</section>",
        ]
    parts += ["<h2>Panel coverage</h2>", _coverage(record), "</body></html>"]
    return "\n".join(parts) + "\n"


def write_html(folder: Path, record: dict[str, Any]) -> Path:
    """``report.html`` and ``record.json`` (what it was drawn from) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.json").write_text(json.dumps(record, indent=1, sort_keys=True), encoding="utf-8")
    path = folder / "report.html"
    path.write_text(render(record), encoding="utf-8")
    return path


def write_html_if_possible(folder: Path, record: dict[str, Any]) -> Path | None:
    """:func:`write_html`, or a hint instead when matplotlib is missing: the Markdown report
    is still complete, so the drill's verdict does not depend on the charts."""
    try:
        return write_html(folder, record)
    except ImportError as exc:
        print(f"no HTML report: {exc}")
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.drill.report_html", description=__doc__)
    parser.add_argument("folder", type=Path, help="a drill's report folder (holding record.json)")
    args = parser.parse_args(argv)
    record = json.loads((args.folder / "record.json").read_text(encoding="utf-8"))
    print(write_html(args.folder, record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
