"""The dashboards' scope over the shared builder (:mod:`telemetry.promql`).

Each selector starts with the user's configured selector (``RulesConfig.selector``) and the
dashboard's identity variables: the service label (``RulesConfig.service_label``, Prometheus's
``job`` by default) and the instance label (``RulesConfig.instance_label``). Each variable is
*named* after its label, so an alert's ``dashboard_url`` (``var-<label>=...``) lands on it.
Matchers on the spec's own labels follow; the catalog checks are the shared builder's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from telemetry.promql import Matcher, label, value
from telemetry.promql import by as _by
from telemetry.promql import selector as _selector
from telemetry.rules.config import RulesConfig

if TYPE_CHECKING:
    from telemetry.catalog import Label, MetricSpec

__all__ = [
    "RATE_INTERVAL",
    "Matcher",
    "Scope",
    "by",
    "label",
    "ratio",
    "selector",
    "value",
]

RATE_INTERVAL: Final = "$__rate_interval"


@dataclass(frozen=True, slots=True)
class Scope:
    """Where every panel query of a dashboard set looks: built from the one config the alert
    rules read, so a custom service label or selector moves rules and panels together."""

    service: str
    instance: str
    extra: str = ""

    @classmethod
    def of(cls, cfg: RulesConfig) -> Scope:
        return cls(service=cfg.service_label, instance=cfg.instance_label, extra=cfg.selector)

    @property
    def target_labels(self) -> tuple[str, str]:
        """Labels Prometheus attaches to every series of a target (not catalog labels)."""
        return (self.service, self.instance)

    @property
    def matchers(self) -> tuple[str, ...]:
        """The configured selector, then ``<service>=~"$<service>"``, ``instance=~"$instance"``."""
        own = tuple(f'{name}=~"${name}"' for name in self.target_labels)
        return (self.extra, *own) if self.extra else own

    def selector(self, spec: MetricSpec, *matchers: Matcher, part: str = "", bucket: str | None = None) -> str:
        """``name{<selector>, job=~"$job", instance=~"$instance", ...}``; ``part`` picks a
        histogram series (``bucket``, ``sum``, ``count``), ``bucket`` one ``le`` bound of it."""
        return _selector(spec, *matchers, scope=self.matchers, suffix=f"_{part}" if part else "", bucket=bucket)

    def rate(
        self,
        spec: MetricSpec,
        *matchers: Matcher,
        group: tuple[Label | str, ...] = (),
        part: str = "",
        fn: str = "rate",
        bucket: str | None = None,
    ) -> str:
        """``sum by (group) (rate(selector[$__rate_interval]))`` (``fn="increase"`` for counts)."""
        series = self.selector(spec, *matchers, part=part, bucket=bucket)
        return f"sum{by(*group)} ({fn}({series}[{RATE_INTERVAL}]))"

    def aggregate(self, op: str, spec: MetricSpec, *matchers: Matcher, group: tuple[Label | str, ...] = ()) -> str:
        """``op by (group) (selector)`` for gauges (``sum``, ``max``, ``count``, ``avg``)."""
        return f"{op}{by(*group)} ({self.selector(spec, *matchers)})"

    def quantile(self, q: float, spec: MetricSpec, *matchers: Matcher, group: tuple[Label | str, ...] = ()) -> str:
        """The ``q`` quantile of a histogram over the rate interval, per ``group``."""
        return f"histogram_quantile({q}, {self.rate(spec, *matchers, group=('le', *group), part='bucket')})"

    def recorded(self, name: str) -> str:
        """A per-service recording rule's series (its name comes from :mod:`telemetry.rules`):
        only the service matcher applies, the rule already applied the configured selector and
        aggregated instances away."""
        return f'{name}{{{self.service}=~"${self.service}"}}'


def selector(spec: MetricSpec, *matchers: Matcher, part: str = "") -> str:
    """:meth:`Scope.selector` for the default config."""
    return Scope.of(RulesConfig()).selector(spec, *matchers, part=part)


def by(*labels: Label | str) -> str:
    """`` by (...)`` (with its leading space), or nothing without labels."""
    return f" {_by(*labels)}" if labels else ""


def ratio(numerator: str, denominator: str) -> str:
    """``numerator / denominator`` that reads 0 (not "no data") while there is traffic but no
    numerator series yet, e.g. no failure has happened."""
    return f"({numerator} or 0 * {denominator}) / {denominator}"
