"""Recovery-job alerts: parked work that does not drain although its dependency has been back
for a while, and a recovery job whose runs keep failing.

Runbook prose: ``recovery.md`` next to this module; promtool tests: ``alerts/tests/recovery.test.yml``.
The backlog comes from the service's own table at scrape time; "back for a while" is read from
the time the dependency returned, so a series born with the dependency up waits the full window.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from telemetry import catalog as c
from telemetry.promql import number
from telemetry.rules.config import duration_seconds
from telemetry.rules.model import COUNT_VALUE, AlertRule, Family, load_runbooks, span

if TYPE_CHECKING:
    from telemetry.promql import Builder
    from telemetry.rules.config import RulesConfig

__all__ = ["family"]


def family(q: Builder, cfg: RulesConfig) -> Family:
    """The recovery family for ``cfg``; every name in its PromQL comes from the catalog through ``q``."""
    name, svc = c.RECOVERY_NAME.prom, cfg.service_label
    backlog, available, returned, runs = (
        c.RECOVERY_BACKLOG,
        c.RECOVERY_DEPENDENCY_AVAILABLE,
        c.RECOVERY_DEPENDENCY_RETURNED,
        c.RECOVERY_RUNS,
    )
    window = cfg.recovery_drain_window
    failure_window = cfg.recovery_failure_window
    failures = f"round({q.counted(runs, failure_window, name, outcome='failure')}) >= {cfg.recovery_failures}"
    by = q.on(backlog, name)
    current = f"max {q.by(backlog, name)} ({q.series(backlog)})"
    return Family(
        name="recovery",
        dashboard="toolbox",
        title="Recovery jobs",
        records=(),
        alerts=(
            AlertRule(
                name="RecoveryBacklogNotDraining",
                dashboard_vars=(("recovery", name),),
                expr=(
                    f"{current} > 0\n"
                    f"and {by}\nmax {q.by(available, name)} ({q.series(available)}) == 1\n"
                    f"and {by}\ntime() - max {q.by(returned, name)} ({q.series(returned)})"
                    f" > {number(duration_seconds(window))}\n"
                    f"and {by}\n{current} >= max {q.by(backlog, name)} ({q.series(backlog)} offset {window})"
                ),
                for_=cfg.recovery_drain_for,
                severity="critical",
                summary="Parked work does not drain although its dependency is back.",
                description=(
                    f"{{{{ $value | humanize }}}} items of {{{{ $labels.{name} }}}} in {{{{ $labels.{svc} }}}} "
                    f"are still parked: the dependency has been back for more than {window} and the backlog "
                    f"is no smaller than {window} ago (held for {cfg.recovery_drain_for})."
                ),
                trace_errors=False,
            ),
            AlertRule(
                name="RecoveryJobFailing",
                dashboard_vars=(("recovery", name),),
                expr=(
                    f"(\n{failures}\n)\n"
                    # a success series born at its first run counts too (a fresh process that recovered)
                    f"unless {by}\n"
                    f"round({q.counted(runs, failure_window, name, outcome=('success', 'partial'))}) > 0"
                ),
                for_=cfg.recovery_failure_for,
                severity="warning",
                summary="A recovery job keeps failing.",
                description=(
                    f"{COUNT_VALUE} runs of the {{{{ $labels.{name} }}}} recovery job in "
                    f"{{{{ $labels.{svc} }}}} failed in the last {cfg.recovery_failure_window} and none succeeded "
                    f"(limit {cfg.recovery_failures}, held for {cfg.recovery_failure_for})."
                ),
                trace_filters=(span(c.RECOVERY_NAME),),
            ),
        ),
        runbooks=load_runbooks("recovery", cfg),
    )
