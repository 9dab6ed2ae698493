"""The one typed configuration the rule and Alertmanager generators read.

Every threshold, ``for`` duration, window, selector, label name and link base is a field with
the product's default; users override any subset from a YAML or JSON mapping
(:meth:`RulesConfig.from_mapping`, or ``python -m telemetry generate --config FILE``).
Durations are Prometheus duration strings (``"90s"``, ``"5m"``, ``"1h30m"``).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["RulesConfig", "SloWindow", "duration_seconds"]

_DURATION: Final = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float:
    """``"1h30m"`` -> 5400.0; raises ``ValueError`` on anything Prometheus would reject."""
    parts = _DURATION.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        msg = f"{text!r} is not a Prometheus duration (e.g. '30s', '5m', '1h30m')"
        raise ValueError(msg)
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)


@dataclass(frozen=True, slots=True, kw_only=True)
class SloWindow:
    """One multi-window, multi-burn-rate pair (SRE workbook, chapter 5)."""

    long: str
    short: str
    factor: float
    for_: str
    severity: str


_WORKBOOK_WINDOWS: Final = (
    SloWindow(long="1h", short="5m", factor=14.4, for_="2m", severity="critical"),
    SloWindow(long="6h", short="30m", factor=6.0, for_="15m", severity="critical"),
    SloWindow(long="1d", short="2h", factor=3.0, for_="1h", severity="warning"),
    SloWindow(long="3d", short="6h", factor=1.0, for_="3h", severity="warning"),
)
SEVERITIES: Final = ("critical", "warning", "info")


@dataclass(frozen=True, slots=True, kw_only=True)
class RulesConfig:
    """Everything a platform team may change. Defaults follow the product spec and seeds."""

    # --- selection and labels
    selector: str = ""  # extra matchers on every series, e.g. 'job=~"api|worker"'
    service_label: str = "service"  # target label naming the service (set in scrape config)
    scrape_interval: str = "30s"  # every rate window must be at least 4x this
    rate_window: str = "5m"  # window of the ratio and rate rules

    # --- circuit breaker
    breaker_not_closed_for: str = "5m"  # no closed sample for this long: page
    breaker_pending: str = "1m"  # part of breaker_not_closed_for spent as the rule's `for`
    breaker_flapping_window: str = "30m"
    breaker_flapping_opens: int = 3  # closed -> open transitions in the window
    breaker_flapping_for: str = "5m"
    breaker_open_time_window: str = "15m"
    breaker_open_time_ratio: float = 0.25  # share of the window spent open or half-open
    breaker_open_time_for: str = "5m"

    # --- connection pool
    pool_timeouts_window: str = "5m"
    pool_timeouts_threshold: float = 0  # checkout timeouts in the window
    pool_timeouts_for: str = "1m"
    pool_waiters_for: str = "5m"
    pool_saturated_for: str = "5m"

    # --- dependencies (S3 and others) and health checks
    dependency_failure_outcomes: tuple[str, ...] = ("server_error", "throttled", "connection_error", "timeout")
    dependency_failure_ratio: float = 0.30
    dependency_min_rate: float = 0.05  # operations per second below which nothing pages (3/min)
    dependency_failure_for: str = "5m"
    health_failure_ratio: float = 0.50
    health_min_rate: float = 0.01  # check runs per second (3 per 5 minutes)
    health_failure_for: str = "5m"

    # --- retries
    retry_exhaustion_ratio: float = 0.10
    retry_amplification: float = 2.0  # attempts per call
    retry_min_rate: float = 0.05  # calls per second
    retry_for: str = "10m"

    # --- outbox
    outbox_age_warning: float = 300  # seconds of the oldest pending row
    outbox_age_critical: float = 900
    outbox_age_for: str = "5m"
    outbox_stall_window: str = "10m"  # backlog and nothing published during this window
    outbox_heartbeat_stale: float = 120  # seconds since the relay's last poll
    outbox_stall_for: str = "5m"

    # --- dead-letter queues and degraded mode
    dlq_inflow_window: str = "10m"
    dlq_inflow_threshold: float = 0  # messages dead-lettered in the window
    dlq_inflow_for: str = "1m"
    dlq_stale_age: float = 3600  # seconds of the oldest dead-lettered message
    dlq_stale_for: str = "10m"
    degraded_for: str = "10m"

    # --- the pipeline itself
    telemetry_absent_window: str = "1h"  # a service seen in this window that stopped reporting
    telemetry_absent_for: str = "5m"
    watchdog_service: str = "prometheus"  # `service` label of the always-firing Watchdog

    # --- HTTP SLOs (multi-window, multi-burn-rate)
    availability_objective: float = 0.999
    latency_objective: float = 0.99
    latency_threshold: float = 0.5  # seconds; must be a bucket of the HTTP duration histogram
    slo_windows: tuple[SloWindow, ...] = _WORKBOOK_WINDOWS

    # --- timeouts, rate limiters, bulkheads and recovery jobs
    timeout_ratio: float = 0.05  # share of an operation's calls that ran out of their budget
    timeout_min_rate: float = 0.05  # calls per second below which nothing pages (3/min)
    timeout_for: str = "10m"
    ratelimit_rejection_ratio: float = 0.25  # share of a limit's requests rejected
    ratelimit_min_rate: float = 0.1  # requests per second below which nothing pages
    ratelimit_rejection_for: str = "10m"
    ratelimit_fallback_for: str = "5m"  # limiter on its fallback (per-process limits) this long
    bulkhead_saturation_ratio: float = 0.9  # in flight / limit
    bulkhead_saturated_for: str = "10m"
    bulkhead_rejections_window: str = "10m"
    bulkhead_rejections_threshold: float = 0  # rejected calls in the window
    bulkhead_rejections_for: str = "1m"
    recovery_drain_window: str = "15m"  # dependency back, backlog no smaller than this long ago
    recovery_drain_for: str = "5m"
    recovery_failure_window: str = "30m"
    recovery_failures: int = 3  # failed runs in the window, with no successful run
    recovery_failure_for: str = "1m"

    # --- links in annotations
    runbook_base_url: str = "https://github.com/resilience-telemetry/resilience-telemetry/blob/main/alerts/runbooks.md"
    dashboard_base_url: str = "http://localhost:3000"
    dashboard_uid_prefix: str = "rt-"  # dashboards/<name>.json has uid <prefix><name>
    trace_search_base_url: str = "http://localhost:3000/explore"
    trace_datasource_uid: str = "tempo"

    # --- Alertmanager
    pager_url: str = "http://127.0.0.1:9/pager"  # placeholders: compose and the demo override them
    ticket_url: str = "http://127.0.0.1:9/ticket"
    deadman_url: str = "http://127.0.0.1:9/deadman"
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    deadman_repeat_interval: str = "1m"

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name.endswith(("_for", "_window", "_interval", "_pending", "wait")) and isinstance(value, str):
                duration_seconds(value)
        floor = 4 * duration_seconds(self.scrape_interval)
        for name in ("rate_window", "pool_timeouts_window", "breaker_flapping_window", "dlq_inflow_window"):
            if duration_seconds(getattr(self, name)) < floor:
                msg = f"{name}={getattr(self, name)} is shorter than 4x scrape_interval={self.scrape_interval}"
                raise ValueError(msg)
        if duration_seconds(self.breaker_pending) >= duration_seconds(self.breaker_not_closed_for):
            msg = "breaker_pending must be shorter than breaker_not_closed_for"
            raise ValueError(msg)
        self._check_catalog_values()

    def _check_catalog_values(self) -> None:
        outcomes = catalog.DEPENDENCY_OPERATIONS.labels[-1].values or ()
        unknown = set(self.dependency_failure_outcomes) - set(outcomes)
        if unknown:
            msg = f"dependency_failure_outcomes {sorted(unknown)} are not outcomes of the catalog ({outcomes})"
            raise ValueError(msg)
        if self.latency_threshold not in (catalog.HTTP_SERVER_REQUEST_DURATION.buckets or ()):
            msg = f"latency_threshold {self.latency_threshold} is not a bucket of the HTTP duration histogram"
            raise ValueError(msg)
        for window in self.slo_windows:
            if window.severity not in SEVERITIES:
                msg = f"SLO window severity {window.severity!r} is not one of {SEVERITIES}"
                raise ValueError(msg)
            for text in (window.long, window.short, window.for_):
                duration_seconds(text)

    @property
    def breaker_window(self) -> str:
        """The ``max_over_time`` window: the not-closed time minus the rule's ``for``."""
        seconds = duration_seconds(self.breaker_not_closed_for) - duration_seconds(self.breaker_pending)
        return f"{int(seconds)}s" if seconds % 60 else f"{int(seconds // 60)}m"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RulesConfig:
        """Build from a parsed YAML/JSON mapping; unknown keys are an error, lists become tuples."""
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            msg = f"unknown alert config keys: {', '.join(unknown)}"
            raise ValueError(msg)
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "slo_windows":
                values[key] = tuple(SloWindow(**_window_keys(item)) for item in value)
            elif isinstance(value, list):
                values[key] = tuple(value)
            else:
                values[key] = value
        return cls(**values)


def _window_keys(item: Mapping[str, Any]) -> dict[str, Any]:
    return {("for_" if key == "for" else key): value for key, value in item.items()}
