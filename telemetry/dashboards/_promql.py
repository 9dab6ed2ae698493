"""PromQL built from catalog specs: every metric and label name in a panel comes from here.

Each selector is scoped to the dashboard's ``service`` and ``instance`` variables (labels the
Prometheus scrape configuration puts on every target) and may add matchers on the spec's own
labels. A label a spec does not declare is a programmer error, raised at generation time, so a
typo never reaches a committed dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

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

SERVICE: Final = "service"
INSTANCE: Final = "instance"
# Labels Prometheus attaches to every scraped series (scrape config), not catalog labels.
TARGET_LABELS: Final = (SERVICE, INSTANCE)
RATE_INTERVAL: Final = "$__rate_interval"
_SCOPE: Final = tuple(f'{name}=~"${name}"' for name in TARGET_LABELS)


@dataclass(frozen=True, slots=True)
class Matcher:
    """``label op "value"`` on a catalog label; ``value`` may be a Grafana variable."""

    label: Label
    op: str
    value: str

    def render(self) -> str:
        return f'{self.label.prom}{self.op}"{self.value}"'


def label(spec: MetricSpec, name: str) -> Label:
    """The spec's label called ``name`` (OpenTelemetry name); unknown names raise."""
    for candidate in spec.labels:
        if name in (candidate.name, candidate.prom):
            return candidate
    msg = f"{spec.name} has no label {name!r}"
    raise KeyError(msg)


def selector(spec: MetricSpec, *matchers: Matcher, part: str = "") -> str:
    """``name{service=~"$service", instance=~"$instance", ...}``; ``part`` picks a histogram
    series (``bucket``, ``sum``, ``count``)."""
    name = f"{spec.prom}_{part}" if part else spec.prom
    if name not in spec.series_names:
        msg = f"{spec.name} has no series {name!r}"
        raise KeyError(msg)
    for matcher in matchers:
        if matcher.label not in spec.labels:
            msg = f"{spec.name} has no label {matcher.label.name!r}"
            raise KeyError(msg)
    inner = ", ".join((*_SCOPE, *(m.render() for m in matchers)))
    return f"{name}{{{inner}}}"


def by(*labels: Label | str) -> str:
    """A ``by (...)`` clause from catalog labels or target labels (``instance``, ``le``)."""
    names = [item if isinstance(item, str) else item.prom for item in labels]
    return f" by ({', '.join(names)})" if names else ""


def value(label: Label, wanted: str) -> str:
    """``wanted`` after checking it is in the label's closed value set."""
    if label.values is None or wanted not in label.values:
        msg = f"{wanted!r} is not a value of {label.name!r}"
        raise KeyError(msg)
    return wanted


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
