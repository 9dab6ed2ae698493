"""``make demo``: an incident drill against the reference service.

It starts the service, a real Prometheus (the generated rules, with the drill's compressed
``for:`` durations and windows) and a real Alertmanager (the generated routing, receivers
pointed at a local webhook that plays the pager), drives traffic, injects one fault at a time
and prints the timeline: fault injected -> metric moved -> alert pending -> page received ->
fault removed -> resolved. For each page it shows an example failing request with its
correlation ID, trace ID and log lines. The report lands in ``demo-report/`` (or ``--out``);
the exit status is non-zero if an expected page did not arrive.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from examples.drill.evidence import collect
from examples.drill.report import Outcome, Timeline, write_report
from examples.drill.report_html import write_html_if_possible
from examples.drill.service import Service, Traffic
from examples.drill.stack import Stack, tools_available
from telemetry import catalog
from telemetry.rules import RulesConfig, render

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass
class Scenario:
    """One fault, the page it must cause, and the metric that shows it first."""

    name: str
    alertname: str
    fault: dict[str, Any]
    clear: dict[str, Any]
    signal: str  # PromQL that becomes non-empty when the metric moved
    path_part: str  # which requests fail, for the example request
    redrive: bool = False  # after the fix, move dead letters back
    drains: str = ""  # PromQL of a recovery backlog that the fault fills and that must drain after the fix


def scenarios() -> list[Scenario]:
    return [
        Scenario(
            name="breaker-open",
            alertname="CircuitBreakerOpen",
            fault={"breaker_open": True},
            clear={"breaker_open": False},
            signal=f'{catalog.CIRCUIT_STATE.prom}{{state="open"}} == 1',
            path_part="/receipt",
            # Receipts S3 refused are parked as PENDING_NETWORK_RECOVERY and uploaded once it is back.
            drains=f'{catalog.RECOVERY_BACKLOG.prom}{{recovery_name="receipts"}}',
        ),
        Scenario(
            name="pool-exhaustion",
            alertname="DatabasePoolTimeouts",
            fault={"pool_holders": 7, "drop_connections": True},
            clear={"pool_holders": 0},
            signal=f"increase({catalog.DB_CLIENT_CONNECTION_TIMEOUTS.prom}[30s]) > 0",
            path_part="/orders",
        ),
        Scenario(
            name="s3-failures",
            alertname="DependencyFailureRatioHigh",
            fault={"s3_failure_ratio": 0.8},
            clear={"s3_failure_ratio": 0.0},
            signal=f'increase({catalog.DEPENDENCY_OPERATIONS.prom}{{outcome=~"server_error|throttled"}}[30s]) > 0',
            path_part="/receipt",
        ),
        Scenario(
            name="dlq-inflow",
            alertname="DeadLetterInflow",
            fault={"consumer_fail": True},
            clear={"consumer_fail": False},
            signal=f"increase({catalog.DLQ_DEAD_LETTERED.prom}[30s]) > 0",
            path_part="",
            redrive=True,
        ),
    ]


def drill_config(pager_port: int, *, scale: float) -> RulesConfig:
    """The committed thresholds with time compressed: seconds instead of minutes."""

    def d(seconds: float) -> str:
        return f"{max(1, round(seconds * scale))}s"

    pager = f"http://127.0.0.1:{pager_port}"
    return RulesConfig(
        scrape_interval="1s",
        rate_window=d(20),
        breaker_not_closed_for=d(20),
        breaker_pending=d(5),
        pool_timeouts_window=d(20),
        pool_timeouts_for=d(3),
        dependency_failure_for=d(10),
        dlq_inflow_window=d(20),
        dlq_inflow_for=d(3),
        group_wait="1s",
        group_interval="2s",
        repeat_interval="1h",
        pager_url=f"{pager}/pager",
        ticket_url=f"{pager}/ticket",
        deadman_url=f"{pager}/deadman",
    )


def _with_root(spans: list[Any]) -> list[Any] | None:
    """``spans`` once the trace's root span is among them."""
    return spans if any(not span.parent_span_id for span in spans) else None


def _with_spans(stack: Stack, example: dict[str, Any]) -> dict[str, Any]:
    """Add the example's spans as the stand-in collector received them."""
    trace_id = example.get("trace_id")
    # Child spans (queries, S3 calls) end, and so arrive, before the request's own span: wait for it.
    spans = None
    if trace_id:
        spans = _wait(lambda: _with_root(stack.otlp.trace(trace_id)), 5.0, 0.25) or stack.otlp.trace(trace_id)
    example["spans"] = [f"{span.name} {span.events}" for span in spans or []]
    example["span_has_correlation_id"] = any(
        example["correlation_id"]
        in (span.attributes.get("resilience.correlation_id"), span.attributes.get("messaging.message.conversation_id"))
        for span in spans or []
    )
    return example


_EXAMPLE_CANDIDATES = 200  # failed requests looked at for an example, newest first


def _example(
    stack: Stack, service: Service, traffic: Traffic, scenario: Scenario, *, start: float, end: float
) -> dict[str, Any]:
    failures = traffic.failures_between(start, end, scenario.path_part)
    candidates = []
    for request in list(reversed(failures))[:_EXAMPLE_CANDIDATES]:
        logs = service.log_lines(request.correlation_id)
        if logs:
            trace_id = next((line["trace_id"] for line in logs if "trace_id" in line), None)
            candidates.append((request, logs, trace_id))
    if candidates:
        # The latest failure whose trace has a failed dependency span (a query, an S3 operation, a
        # pool checkout) under the request's span shows where the request failed; else the latest.
        request, logs, trace_id = next(
            (
                candidate
                for candidate in candidates
                if candidate[2] and any(span.error and span.parent_span_id for span in stack.otlp.trace(candidate[2]))
            ),
            candidates[0],
        )
        return _with_spans(
            stack,
            {
                "request": f"{request.method} {request.path} -> {request.status}",
                "correlation_id": request.correlation_id,
                "trace_id": trace_id,
                "logs": logs,
            },
        )
    # The consumer's failures happen off the request path: show its dead-letter log line.
    for line in reversed(service.log_path.read_text(errors="replace").splitlines()):
        if '"telemetry.dlq.dead_lettered"' in line or '"telemetry.consumer.retry_scheduled"' in line:
            entry = json.loads(line)
            return _with_spans(
                stack,
                {
                    "request": "order.created message (consumer)",
                    "correlation_id": entry.get("correlation_id"),
                    "trace_id": entry.get("trace_id"),
                    "logs": service.log_lines(entry.get("correlation_id", "")),
                },
            )
    return {}


def _wait(predicate: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    return None


def run_scenario(
    stack: Stack, service: Service, traffic: Traffic, *, scenario: Scenario, timeline: Timeline, timeout: float
) -> Outcome:
    outcome = Outcome(scenario.name, scenario.alertname, scenario.fault)
    started = time.time()
    service.set_faults(**scenario.fault)
    timeline.say(scenario.name, f"fault injected: {scenario.fault}")
    if _wait(lambda: stack.query(scenario.signal), timeout):
        timeline.say(scenario.name, f"metric moved: {scenario.signal}")

    def state(wanted: str) -> bool:
        return any(a["labels"].get("alertname") == scenario.alertname and a["state"] == wanted for a in stack.alerts())

    if _wait(lambda: state("pending") or state("firing"), timeout):
        timeline.say(scenario.name, f"alert pending: {scenario.alertname}")
    outcome.page = _wait(lambda: stack.pager.find(scenario.alertname), timeout)
    if outcome.page is not None:
        summary = outcome.page.annotations.get("summary", "")
        timeline.say(scenario.name, f"page received ({outcome.page.receiver}): {summary}")
        for link in ("runbook_url", "dashboard_url", "trace_search_url"):
            timeline.say(
                scenario.name,
                f"{link.removesuffix('_url').replace('_', ' ')}: {outcome.page.annotations.get(link, '')}",
            )
    else:
        timeline.say(scenario.name, f"NO PAGE for {scenario.alertname} within {timeout:.0f}s")
    outcome.example = _example(stack, service, traffic, scenario, start=started, end=time.time())
    if outcome.example:
        timeline.say(
            scenario.name,
            f"example: {outcome.example['request']} correlation_id={outcome.example['correlation_id']} "
            f"trace_id={outcome.example['trace_id']} ({len(outcome.example['logs'])} log lines, "
            f"{len(outcome.example['spans'])} spans)",
        )
    service.set_faults(**scenario.clear)
    timeline.say(scenario.name, "fault removed")
    if scenario.redrive:
        status, moved = service.call("POST", "/admin/redrive")
        timeline.say(scenario.name, f"dead letters redriven after the fix: {moved} (HTTP {status})")
    outcome.resolved = _wait(lambda: stack.pager.find(scenario.alertname, "resolved"), timeout * 2)
    timeline.say(scenario.name, "resolved" if outcome.resolved else f"NOT RESOLVED within {timeout * 2:.0f}s")
    if scenario.drains:
        _report_drain(stack, scenario, timeline, since=started, timeout=timeout)
    return outcome


def _backlog(stack: Stack, expr: str) -> float | None:
    found = stack.query(f"max({expr})")
    return float(found[0]["value"][1]) if found else None


def _report_drain(stack: Stack, scenario: Scenario, timeline: Timeline, *, since: float, timeout: float) -> None:
    """The recovery path of the scenario: how much work was parked, and that it drained after the fix."""
    window = f"{max(1, int(time.time() - since) + 1)}s"
    peak = _backlog(stack, f"max_over_time({scenario.drains}[{window}])") or 0.0
    timeline.say(scenario.name, f"recovery backlog: {peak:.0f} items parked during the fault")
    if _wait(lambda: _backlog(stack, scenario.drains) == 0.0, timeout):
        timeline.say(scenario.name, f"recovery backlog drained: {peak:.0f} parked items recovered after the fix")
    else:
        timeline.say(scenario.name, f"recovery backlog NOT drained within {timeout:.0f}s")


def write_rules(stack: Stack, folder: Path, *, scale: float) -> list[Path]:
    """Render the drill's rules into ``folder``, start Alertmanager with the drill's routing."""
    files = render(drill_config(stack.pager.port, scale=scale))
    folder.mkdir(parents=True, exist_ok=True)
    rule_files = []
    for relative, content in files.items():
        if relative.name.endswith(".rules.yml"):
            (folder / relative.name).write_text(content, encoding="utf-8")
            rule_files.append(folder / relative.name)
        elif relative.name == "alertmanager.yml":
            stack.start_alertmanager(yaml.safe_load(content))
    return rule_files


def panel_coverage(stack: Stack, rate_interval: str) -> dict[str, Any]:
    """Run every dashboard panel query against the drill's Prometheus: a panel that shows
    nothing during an incident is a bug."""
    from telemetry.dashboards import expressions, substitute

    queries = expressions()
    empty = [
        expr for expr in queries if not stack.query(substitute(expr, rate_interval=rate_interval, service="orders"))
    ]
    return {"queries": len(queries), "empty": empty}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.drill", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-report"), help="report folder")
    parser.add_argument("--scale", type=float, default=1.0, help="time scale of for:/windows (1.0 = drill speed)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each page")
    parser.add_argument("--only", action="append", help="run only these scenarios")
    args = parser.parse_args(argv)
    if not tools_available():
        print("prometheus/alertmanager not installed (scripts/install-tools.sh installs them); cannot run the drill")
        return 2
    chosen = [s for s in scenarios() if not args.only or s.name in args.only]
    workdir = Path(tempfile.mkdtemp(prefix="drill-"))
    timeline = Timeline()
    outcomes: list[Outcome] = []
    coverage: dict[str, Any] = {}
    record: dict[str, Any] = {}
    with Stack(workdir / "stack") as stack:
        stack.pager.start()
        stack.otlp.start()
        service = Service(
            workdir,
            env={"OTEL_EXPORTER_OTLP_ENDPOINT": stack.otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "500"},
        )
        rule_files = write_rules(stack, workdir / "rules", scale=args.scale)
        timeline.say("stack", f"alertmanager up at {stack.alertmanager_url}")
        try:
            service.start()
            timeline.say("service", f"orders service up at {service.url}")
            stack.start_prometheus(targets=[f"127.0.0.1:{service.port}"], rule_files=rule_files, service="orders")
            timeline.say("stack", f"prometheus up at {stack.prometheus_url} with {len(rule_files)} rule files")
            traffic = Traffic(service)
            traffic.start()
            time.sleep(5)
            timeline.say("traffic", f"{len(traffic.requests)} requests sent, steady state")
            outcomes.extend(
                run_scenario(stack, service, traffic, scenario=scenario, timeline=timeline, timeout=args.timeout)
                for scenario in chosen
            )
            traffic.stop()
            coverage = panel_coverage(stack, rate_interval=f"{int(time.time() - timeline.started) + 60}s")
            timeline.say(
                "dashboards",
                f"{coverage['queries'] - len(coverage['empty'])} of {coverage['queries']} panel queries return data",
            )
            rate_window = drill_config(stack.pager.port, scale=args.scale).rate_window
            record = collect(stack, timeline, outcomes, coverage, rate_interval=rate_window)
        finally:
            service.stop()
    folder = args.out.resolve()
    report = write_report(folder, timeline, outcomes, coverage)
    shutil.copy(service.log_path, folder / "service.log")
    html_report = write_html_if_possible(folder, record) if record else None
    missing = [o.alertname for o in outcomes if not o.ok]
    print(f"\nreport: {report}")
    if missing:
        print(f"expected pages missing or unresolved: {', '.join(missing)}")
    else:
        print(f"all {len(outcomes)} expected pages arrived and resolved")
    if html_report is not None:
        print(f"HTML report: {html_report}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
