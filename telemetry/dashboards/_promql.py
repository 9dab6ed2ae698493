"""The dashboards' scope over the shared builder (:mod:`telemetry.promql`).

Each selector is scoped to the dashboard's ``service`` and ``instance`` variables (labels the
Prometheus scrape configuration puts on every target) and may add matchers on the spec's own
labels; the catalog checks are the shared builder's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from telemetry.promql import Matcher, label, value
from telemetry.promql import by as _by
from telemetry.promql import selector as _selector

if TYPE_CHECKING:
    from telemetry.catalog import Label, MetricSpec

__all__ = [
    "INSTANCE",
    "RATE_INTERVAL",
    "SERVICE",
    "TARGET_LABELS",
    "Matcher",
    "aggregate",
    "by",
    "label",
    "quantile",
    "rate",
    "ratio",
    "selector",
    "value",
]

SERVICE: Final = "job"  # the rules' default service label (RulesConfig.service_label)
INSTANCE: Final = "instance"
# Labels Prometheus attaches to every scraped series (scrape config), not catalog labels.
TARGET_LABELS: Final = (SERVICE, INSTANCE)
RATE_INTERVAL: Final = "$__rate_interval"
_SCOPE: Final = tuple(f'{name}=~"${name}"' for name in TARGET_LABELS)


def selector(spec: MetricSpec, *matchers: Matcher, part: str = "") -> str:
    """``name{service=~"$service", instance=~"$instance", ...}``; ``part`` picks a histogram
    series (``bucket``, ``sum``, ``count``)."""
    return _selector(spec, *matchers, scope=_SCOPE, suffix=f"_{part}" if part else "")


def by(*labels: Label | str) -> str:
    """`` by (...)`` (with its leading space), or nothing without labels."""
    return f" {_by(*labels)}" if labels else ""


def rate(
    spec: MetricSpec, *matchers: Matcher, group: tuple[Label | str, ...] = (), part: str = "", fn: str = "rate"
) -> str:
    """``sum by (group) (rate(selector[$__rate_interval]))`` (``fn="increase"`` for counts)."""
    return f"sum{by(*group)} ({fn}({selector(spec, *matchers, part=part)}[{RATE_INTERVAL}]))"


def aggregate(op: str, spec: MetricSpec, *matchers: Matcher, group: tuple[Label | str, ...] = ()) -> str:
    """``op by (group) (selector)`` for gauges (``sum``, ``max``, ``count``)."""
    return f"{op}{by(*group)} ({selector(spec, *matchers)})"


def quantile(q: float, spec: MetricSpec, *matchers: Matcher, group: tuple[Label | str, ...] = ()) -> str:
    """The ``q`` quantile of a histogram over the rate interval, per ``group``."""
    return f"histogram_quantile({q}, {rate(spec, *matchers, group=('le', *group), part='bucket')})"


def ratio(numerator: str, denominator: str) -> str:
    """``numerator / denominator`` that reads 0 (not "no data") while there is traffic but no
    numerator series yet, e.g. no failure has happened."""
    return f"({numerator} or 0 * {denominator}) / {denominator}"
