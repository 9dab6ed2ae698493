"""The one typed configuration the rule and Alertmanager generators read.

Every threshold, ``for`` duration, window, selector, label name and link base is a field with
the product's default; users override any subset from a YAML or JSON mapping
(:meth:`RulesConfig.from_mapping`, or ``python -m telemetry generate --config FILE``).
Durations are Prometheus duration strings (``"90s"``, ``"5m"``, ``"1h30m"``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ConfigError", "RulesConfig", "SloWindow", "TeamRouting", "duration_seconds"]

_DURATION: Final = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(text: str) -> float:
    """``"1h30m"`` -> 5400.0; raises ``ValueError`` on anything Prometheus would reject."""
    parts = _DURATION.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        msg = f"{text!r} is not a Prometheus duration (e.g. '30s', '5m', '1h30m')"
        raise ValueError(msg)
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)


class ConfigError(ValueError):
    """A generator config value that is unknown or out of range; the message is one line that
    names the key and what is allowed (``resilience-telemetry generate`` prints it, exit 2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamReceivers:
    """Where one team's pages and tickets go."""

    pager_url: str
    ticket_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamRouting:
    """Route by one label (``team``, or the service label): each value gets its own pager and
    ticket receivers; alerts without a known value fall through to the shared ones."""

    label: str
    teams: tuple[tuple[str, TeamReceivers], ...]

    @classmethod
    def from_mapping(cls, data: Any) -> TeamRouting:
        if not isinstance(data, dict) or set(data) != {"label", "teams"} or not isinstance(data["teams"], dict):
            msg = (
                f"team_routing: {data!r} is not allowed; "
                "allowed: {label: team, teams: {<value>: {pager_url, ticket_url}}}"
            )
            raise ConfigError(msg)
        teams = []
        for name, urls in data["teams"].items():
            if not isinstance(urls, dict) or set(urls) != {"pager_url", "ticket_url"}:
                msg = (
                    f"team_routing.teams.{name}: {urls!r} is not allowed; "
                    "allowed: a mapping with pager_url and ticket_url"
                )
                raise ConfigError(msg)
            teams.append((str(name), TeamReceivers(pager_url=urls["pager_url"], ticket_url=urls["ticket_url"])))
        return cls(label=str(data["label"]), teams=tuple(teams))


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

    # --- selection and labels (the same fields drive the dashboards)
    selector: str = ""  # extra matchers on every series, e.g. 'job=~"api|worker"'
    service_label: str = "job"  # label naming the service: a scrape's job, or job from OTLP's service.name
    instance_label: str = "instance"  # label naming one process: a scrape's instance, or service.instance.id
    scrape_interval: str = "30s"  # every rate window must be at least 4x this
    rate_window: str = "5m"  # window of the ratio and rate rules

    # --- service and targets (`up` of the targets that export resilience telemetry)
    service_down_for: str = "2m"  # every target of a service down this long: page
    target_down_ratio: float = 0.10  # share of a service's targets down: ticket
    target_down_for: str = "10m"

    # --- circuit breaker
    breaker_not_closed_for: str = "5m"  # no closed sample for this long (from the first sample): page
    breaker_pending: str = "1m"  # part of breaker_not_closed_for spent as the rule's `for`
    breaker_flapping_window: str = "30m"
    breaker_flapping_opens: int = 3  # closed -> open transitions in the window
    breaker_flapping_for: str = "5m"
    breaker_open_time_window: str = "15m"
    breaker_open_time_ratio: float = 0.25  # share of the window spent open or half-open
    breaker_open_time_for: str = "5m"

    # --- connection pool
    pool_timeouts_window: str = "5m"  # window of the timeout ratio (page) and count (ticket)
    pool_timeout_ratio: float = 0.05  # share of checkouts that time out: page
    pool_min_checkout_rate: float = 0.1  # checkouts per second below which the ratio does not page
    pool_timeouts_for: str = "5m"  # the ratio must hold this long: one slow burst never pages
    pool_timeouts_threshold: float = 0  # checkout timeouts in the window: ticket
    pool_timeouts_count_for: str = "1m"
    pool_waiters_for: str = "5m"
    pool_saturated_for: str = "5m"

    # --- dependencies (S3 and others) and health checks
    dependency_failure_outcomes: tuple[str, ...] = ("server_error", "throttled", "connection_error", "timeout")
    dependency_failure_ratio: float = 0.30
    dependency_min_rate: float = 0.05  # operations per second below which the ratio does not page (3/min)
    dependency_failure_for: str = "5m"
    dependency_outage_window: str = "30m"  # low traffic: every call in this window failed...
    dependency_outage_min_failures: int = 3  # ...and at least this many: page
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
    outbox_age_for: str = "1m"
    outbox_stall_window: str = "10m"  # rows pending at every sample and nothing published in this window
    outbox_stall_for: str = "1m"
    outbox_heartbeat_stale: float = 120  # seconds since the relay's last healthy poll
    outbox_heartbeat_for: str = "1m"

    # --- dead-letter queues and degraded mode
    dlq_inflow_window: str = "10m"
    dlq_inflow_threshold: float = 0  # messages dead-lettered in the window
    dlq_inflow_for: str = "1m"
    dlq_stale_age: float = 3600  # seconds of the oldest dead-lettered message
    dlq_stale_for: str = "10m"
    degraded_for: str = "10m"

    # --- the pipeline itself
    telemetry_absent_window: str = "1d"  # horizon: a service seen in this window that stopped reporting
    telemetry_absent_for: str = "5m"
    watchdog_service: str = "prometheus"  # service label value of the always-firing Watchdog

    # --- HTTP SLOs (multi-window, multi-burn-rate)
    availability_objective: float = 0.999
    latency_objective: float = 0.99
    latency_threshold: float = 0.5  # seconds; must be a bucket of the HTTP duration histogram
    slo_min_requests: int = 20  # requests in a pair's short window below which it does not fire
    slo_windows: tuple[SloWindow, ...] = _WORKBOOK_WINDOWS
    slo_budget_window: str = "30d"  # the period the error budget is counted over (dashboards)

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
    info_url: str = "http://127.0.0.1:9/info"
    deadman_url: str = "http://127.0.0.1:9/deadman"
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    deadman_repeat_interval: str = "1m"  # also the Watchdog route's group_interval, so the repeat holds
    # Routing by team (or any label): {"label": "team", "teams": {"payments": {"pager_url": ..., "ticket_url": ...}}}
    team_routing: TeamRouting | None = None

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(item.default, str) and not isinstance(value, str):
                msg = f"{item.name}: {value!r} is not allowed; allowed: a string"
                raise ConfigError(msg)
            _check_field(item.name, value)
        floor = 4 * duration_seconds(self.scrape_interval)
        for name in _RATE_WINDOWS:
            if duration_seconds(getattr(self, name)) < floor:
                msg = (
                    f"{name}: {getattr(self, name)} is shorter than 4x scrape_interval ({self.scrape_interval}); "
                    f"allowed: at least {_seconds_text(floor)}"
                )
                raise ConfigError(msg)
        if duration_seconds(self.breaker_pending) >= duration_seconds(self.breaker_not_closed_for):
            msg = (
                f"breaker_pending: {self.breaker_pending} must be shorter than "
                f"breaker_not_closed_for ({self.breaker_not_closed_for})"
            )
            raise ConfigError(msg)
        if self.outbox_age_critical < self.outbox_age_warning:
            msg = (
                f"outbox_age_critical: {self.outbox_age_critical} is out of range; "
                f"allowed: >= outbox_age_warning ({self.outbox_age_warning})"
            )
            raise ConfigError(msg)
        self._check_catalog_values()

    def _check_catalog_values(self) -> None:
        outcomes = catalog.DEPENDENCY_OPERATIONS.labels[-1].values or ()
        unknown = set(self.dependency_failure_outcomes) - set(outcomes)
        if unknown or not self.dependency_failure_outcomes:
            msg = (
                f"dependency_failure_outcomes: {sorted(unknown) or '[]'} is not allowed; "
                f"allowed: a non-empty subset of {list(outcomes)}"
            )
            raise ConfigError(msg)
        buckets = catalog.HTTP_SERVER_REQUEST_DURATION.buckets or ()
        if self.latency_threshold not in buckets:
            msg = (
                f"latency_threshold: {self.latency_threshold} is not allowed; "
                f"allowed: a bucket of the HTTP duration histogram {list(buckets)}"
            )
            raise ConfigError(msg)
        floor = duration_seconds(self.scrape_interval)
        for index, window in enumerate(self.slo_windows):
            where = f"slo_windows[{index}]"
            if window.severity not in SEVERITIES:
                msg = f"{where}.severity: {window.severity!r} is not allowed; allowed: {', '.join(SEVERITIES)}"
                raise ConfigError(msg)
            for key in ("long", "short", "for_"):
                _check_duration(f"{where}.{key.rstrip('_')}", getattr(window, key))
            if duration_seconds(window.short) < 4 * floor or duration_seconds(window.long) <= duration_seconds(
                window.short
            ):
                msg = (
                    f"{where}.short: {window.short} is out of range; "
                    f"allowed: at least 4x scrape_interval and shorter than long ({window.long})"
                )
                raise ConfigError(msg)
            if not isinstance(window.factor, (int, float)) or window.factor <= 0:
                msg = f"{where}.factor: {window.factor!r} is out of range; allowed: a number > 0"
                raise ConfigError(msg)

    @property
    def breaker_window(self) -> str:
        """The ``max_over_time`` window: the not-closed time minus the rule's ``for``."""
        seconds = duration_seconds(self.breaker_not_closed_for) - duration_seconds(self.breaker_pending)
        return f"{int(seconds)}s" if seconds % 60 else f"{int(seconds // 60)}m"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RulesConfig:
        """Build from a parsed YAML/JSON mapping; unknown keys and bad values raise
        :class:`ConfigError` with one line naming the key and what is allowed."""
        if not isinstance(data, dict):
            msg = f"alerts: the config must be a mapping of option -> value, got {type(data).__name__}"
            raise ConfigError(msg)
        known = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            hint = f"did you mean {close[0]}?" if close else "the keys are the fields of RulesConfig (README, Alerts)"
            msg = f"{unknown[0]}: unknown alert config key; {hint}"
            raise ConfigError(msg)
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "slo_windows":
                values[key] = tuple(_slo_window(index, item) for index, item in enumerate(_listed(key, value)))
            elif key == "team_routing":
                values[key] = None if value is None else TeamRouting.from_mapping(value)
            elif isinstance(value, list):
                values[key] = tuple(value)
            else:
                values[key] = value
        return cls(**values)


def _listed(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        msg = f"{key}: {value!r} is not allowed; allowed: a list"
        raise ConfigError(msg)
    return value


def _slo_window(index: int, item: Any) -> SloWindow:
    keys = {"long", "short", "factor", "for", "severity"}
    if not isinstance(item, dict) or set(item) != keys:
        msg = (
            f"slo_windows[{index}]: {item!r} is not allowed; allowed: a mapping with exactly {', '.join(sorted(keys))}"
        )
        raise ConfigError(msg)
    return SloWindow(**{("for_" if key == "for" else key): value for key, value in item.items()})


def _seconds_text(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"


def _check_duration(name: str, value: object) -> None:
    try:
        seconds = duration_seconds(value) if isinstance(value, str) else -1
    except ValueError:
        seconds = -1
    if seconds <= 0 and not (seconds == 0 and name.endswith("_for")):
        msg = f"{name}: {value!r} is not allowed; allowed: a positive Prometheus duration such as 30s, 5m, 1h30m"
        raise ConfigError(msg)


def _check_field(name: str, value: object) -> None:
    """One field against its kind, named by its suffix: durations, ratios, counts, rates, text."""
    rule = next((kind for suffix, kind in _FIELD_KINDS if name.endswith(suffix)), None)
    if rule == "duration":
        _check_duration(name, value)
        return
    if rule is None:
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    low, high, text = _RANGES[rule]
    if not number or not (low(value) and high(value)):
        msg = f"{name}: {value!r} is out of range; allowed: {text}"
        raise ConfigError(msg)


# (suffix, kind) in the order they are tried: a field's kind comes from its name.
_FIELD_KINDS: Final = (
    ("_for", "duration"),
    ("_window", "duration"),
    ("_interval", "duration"),
    ("_pending", "duration"),
    ("group_wait", "duration"),
    ("_objective", "objective"),
    ("_ratio", "ratio"),
    ("_opens", "positive_int"),
    ("_min_failures", "positive_int"),
    ("_min_requests", "count"),
    ("_threshold", "non_negative"),
    ("_min_rate", "non_negative"),
    ("_checkout_rate", "non_negative"),
    ("_amplification", "above_one"),
    ("_age_warning", "positive"),
    ("_age_critical", "positive"),
    ("_age", "positive"),
    ("_stale", "positive"),
)
_RANGES: Final[dict[str, tuple[Any, Any, str]]] = {
    "ratio": (lambda v: v > 0, lambda v: v <= 1, "a ratio in (0, 1]"),
    "objective": (lambda v: v > 0, lambda v: v < 1, "an objective in (0, 1), e.g. 0.999"),
    "positive_int": (lambda v: v >= 1, lambda v: v == int(v), "a whole number >= 1"),
    "count": (lambda v: v >= 0, lambda v: v == int(v), "a whole number >= 0"),
    "non_negative": (lambda v: v >= 0, lambda _v: True, "a number >= 0"),
    "positive": (lambda v: v > 0, lambda _v: True, "a number of seconds > 0"),
    "above_one": (lambda v: v > 1, lambda _v: True, "a number > 1 (attempts per call)"),
}
_RATE_WINDOWS: Final = (
    "rate_window",
    "pool_timeouts_window",
    "breaker_flapping_window",
    "breaker_open_time_window",
    "dlq_inflow_window",
    "dependency_outage_window",
    "outbox_stall_window",
)
