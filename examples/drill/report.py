"""The drill's timeline and its Markdown report."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from examples.drill.stack import Page


@dataclass
class Moment:
    at: float
    step: str
    what: str


@dataclass
class Outcome:
    """What happened for one scenario step."""

    name: str
    alertname: str
    fault: dict[str, Any]
    page: Page | None = None
    resolved: Page | None = None
    example: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.page is not None and self.resolved is not None


class Timeline:
    """Prints each moment as it happens and keeps it for the report."""

    def __init__(self) -> None:
        self.started = time.time()
        self.moments: list[Moment] = []

    def say(self, step: str, what: str) -> None:
        moment = Moment(time.time(), step, what)
        self.moments.append(moment)
        print(f"[{moment.at - self.started:7.1f}s] {step:<18} {what}", flush=True)


def write_report(folder: Path, timeline: Timeline, outcomes: list[Outcome], coverage: dict[str, Any]) -> Path:
    """``report.md`` (and ``report.json``) in ``folder``; returns the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Incident drill report",
        "",
        (
            f"Started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(timeline.started))}; "
            f"{sum(o.ok for o in outcomes)} of {len(outcomes)} expected pages arrived and resolved."
        ),
        "",
        "## Pages",
        "",
        "| scenario | alert | paged after fault | resolved | severity | runbook |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    injected = {m.step: m.at for m in timeline.moments if m.what.startswith("fault injected")}
    for outcome in outcomes:
        start = injected.get(outcome.name, timeline.started)
        paged = f"{outcome.page.received_at - start:.0f}s" if outcome.page else "**missing**"
        resolved = "yes" if outcome.resolved else "**no**"
        severity = outcome.page.labels.get("severity", "") if outcome.page else ""
        runbook = outcome.page.annotations.get("runbook_url", "") if outcome.page else ""
        lines.append(f"| {outcome.name} | `{outcome.alertname}` | {paged} | {resolved} | {severity} | {runbook} |")
    for outcome in outcomes:
        lines += ["", f"## {outcome.name}: `{outcome.alertname}`", "", f"Fault: `{json.dumps(outcome.fault)}`", ""]
        if outcome.page:
            for key in ("summary", "description", "runbook_url", "dashboard_url", "trace_search_url"):
                if key in outcome.page.annotations:
                    lines.append(f"- **{key}**: {outcome.page.annotations[key]}")
            lines.append(f"- **labels**: `{json.dumps(outcome.page.labels, sort_keys=True)}`")
        if outcome.example:
            lines += [
                "",
                (
                    f"Example failing request: `{outcome.example['request']}`, correlation ID "
                    f"`{outcome.example['correlation_id']}`, trace ID `{outcome.example.get('trace_id', '?')}`."
                ),
                "",
                "```json",
                *(json.dumps(entry, sort_keys=True) for entry in outcome.example.get("logs", [])[:6]),
                "```",
            ]
    if coverage:
        lines += [
            "",
            "## Dashboards",
            "",
            (
                f"{coverage['queries'] - len(coverage['empty'])} of {coverage['queries']} panel queries returned data "
                "from the drill's Prometheus."
            ),
            *(f"- empty: `{expr}`" for expr in coverage["empty"]),
        ]
    lines += ["", "## Timeline", "", "| t | step | what |", "| --- | --- | --- |"]
    lines += [f"| {m.at - timeline.started:.1f}s | {m.step} | {m.what} |" for m in timeline.moments]
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "report.json").write_text(
        json.dumps(
            {
                "dashboards": coverage,
                "pages": [
                    {
                        "scenario": o.name,
                        "alertname": o.alertname,
                        "paged": o.page is not None,
                        "resolved": o.resolved is not None,
                        "labels": o.page.labels if o.page else {},
                        "annotations": o.page.annotations if o.page else {},
                        "example": o.example,
                    }
                    for o in outcomes
                ],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return path
