"""The one PromQL builder of the alert rules and the dashboards: names come from the catalog.

A series name, label or closed-set value that is not in a :class:`~telemetry.catalog.MetricSpec`
raises ``ValueError`` at generation time, so a typo or a catalog rename never reaches a committed
rule file or dashboard as a query that silently matches nothing. The two generators differ only
in the *scope* every selector starts with: the rules put the user's configured selector first,
the dashboards their ``service``/``instance`` template variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from telemetry.catalog import Label, MetricSpec

__all__ = ["Builder", "Matcher", "by", "label", "number", "selector", "series_name", "value"]

# Histogram bucket bound: a Prometheus label of ``_bucket`` series, not a catalog label.
_BUCKET_LABEL = "le"


def number(value: float) -> str:
    """A threshold as PromQL prints it: ``0.0144`` rather than ``0.014400000000000012``."""
    return format(round(value, 9), "g")


@dataclass(frozen=True, slots=True)
class Matcher:
    """``label op "value"`` on a catalog label; ``value`` may be a Grafana variable, so it is
    checked against a closed value set only by :func:`equal`."""

    label: Label
    op: str
    value: str

    def render(self) -> str:
        return f'{self.label.prom}{self.op}"{self.value}"'


def label(spec: MetricSpec, name: str) -> Label:
    """The spec's label called ``name`` (OpenTelemetry or Prometheus name); unknown names raise."""
    for candidate in spec.labels:
        if name in (candidate.name, candidate.prom):
            return candidate
    msg = f"{spec.name} has no label {name!r} ({spec.label_names})"
    raise ValueError(msg)


def value(lab: Label, wanted: str) -> str:
    """``wanted`` after checking it is in the label's closed value set."""
    if lab.values is None or wanted not in lab.values:
        msg = f"{wanted!r} is not a value of {lab.name!r} ({lab.values})"
        raise ValueError(msg)
    return wanted


def equal(spec: MetricSpec, name: str, wanted: str | tuple[str, ...]) -> Matcher:
    """``name="v"``, or ``name=~"a|b"`` for a tuple; closed labels only take their own values."""
    lab = label(spec, name)
    values = (wanted,) if isinstance(wanted, str) else wanted
    if lab.values is not None:
        for item in values:
            value(lab, item)
    if isinstance(wanted, str):
        return Matcher(lab, "=", wanted)
    return Matcher(lab, "=~", "|".join(wanted))


def series_name(spec: MetricSpec, suffix: str = "") -> str:
    """The Prometheus series ``spec.prom + suffix`` (``_bucket``, ``_count``...), if it exists."""
    name = spec.prom + suffix
    if name not in spec.series_names:
        msg = f"{spec.name} has no series {name!r}"
        raise ValueError(msg)
    return name


def selector(
    spec: MetricSpec, *matchers: Matcher, scope: Sequence[str] = (), suffix: str = "", bucket: str | None = None
) -> str:
    """``name{<scope>, label="v", ...}`` (the bare name without any matcher); ``bucket`` adds
    ``le="bucket"`` on a ``_bucket`` series."""
    name = series_name(spec, suffix)
    for matcher in matchers:
        if matcher.label not in spec.labels:
            msg = f"{spec.name} has no label {matcher.label.name!r}"
            raise ValueError(msg)
    parts = [*scope, *(matcher.render() for matcher in matchers)]
    if bucket is not None:
        if suffix != "_bucket":
            msg = f"{_BUCKET_LABEL} is a label of {spec.prom}_bucket only"
            raise ValueError(msg)
        parts.append(f'{_BUCKET_LABEL}="{bucket}"')
    return f"{name}{{{', '.join(parts)}}}" if parts else name


def by(*labels: Label | str) -> str:
    """``by (...)`` from catalog labels or target labels (``service``, ``instance``, ``le``)."""
    return f"by ({', '.join(item if isinstance(item, str) else item.prom for item in labels)})"


class Builder:
    """Selectors scoped to a user-configured matcher, grouped by a service label (and an
    instance label): what the alert rules need (``RulesConfig.selector``,
    ``RulesConfig.service_label`` and ``RulesConfig.instance_label``)."""

    __slots__ = ("instance_label", "scope", "service_label")

    def __init__(self, scope: str = "", service_label: str = "job", instance_label: str = "instance") -> None:
        self.scope = (scope,) if scope else ()
        self.service_label = service_label
        self.instance_label = instance_label

    def series(self, spec: MetricSpec, suffix: str = "", /, **matchers: str | tuple[str, ...]) -> str:
        """``name{<scope>, label="v", other=~"a|b"}``; a tuple value is a regex union.

        ``suffix`` picks a histogram series (``_bucket``, ``_count``); ``le`` is allowed there.
        """
        bucket = matchers.pop(_BUCKET_LABEL, None)
        if isinstance(bucket, tuple):
            msg = f"{_BUCKET_LABEL} takes one bucket"
            raise TypeError(msg)
        checked = [equal(spec, key, wanted) for key, wanted in matchers.items()]
        return selector(spec, *checked, scope=self.scope, suffix=suffix, bucket=bucket)

    def identity(self, spec: MetricSpec, *labels: str, instance: bool = False) -> list[str]:
        """The grouping labels: the service label, the instance label if asked, then ``labels``."""
        names = [label(spec, name).prom for name in labels]
        head = [self.service_label, self.instance_label] if instance else [self.service_label]
        return [*head, *names]

    def by(self, spec: MetricSpec, *labels: str, instance: bool = False) -> str:
        """``by (service[, instance], labels...)``: the service label always leads."""
        return by(*self.identity(spec, *labels, instance=instance))

    def on(self, spec: MetricSpec, *labels: str, instance: bool = False) -> str:
        """``on (service[, instance], labels...)`` for a binary operation between two groupings."""
        return f"on ({', '.join(self.identity(spec, *labels, instance=instance))})"

    def counted(
        self, spec: MetricSpec, window: str, *labels: str, instance: bool = False, **matchers: str | tuple[str, ...]
    ) -> str:
        """Events counted in ``window``, the first increment of a new series included.

        ``increase()`` needs two samples, so a counter whose label set is born at its first
        event (an open label such as ``error_type``), or a new instance that failed before its
        first scrape, loses that event. A series with no sample ``window`` ago is born inside
        the window: it counts its highest value in the window (its whole count, and still the
        count before a restart when it restarted since). The left side of ``or`` wins for a
        series on both sides, so an older series takes ``increase()``.
        """
        sel = self.series(spec, **matchers)
        born = f"max_over_time({sel}[{window}]) and ({sel} unless {sel} offset {window})"
        return f"sum {self.by(spec, *labels, instance=instance)} (({born}) or increase({sel}[{window}]))"

    def covered(
        self,
        spec: MetricSpec,
        window: str,
        *labels: str,
        instance: bool = False,
        suffix: str = "",
        **matchers: str | tuple[str, ...],
    ) -> str:
        """The groups whose series already had a sample ``window`` ago.

        ``max_over_time(x[w])`` and ``min_over_time(x[w])`` see only existing samples, so they
        are true of the first sample of a series born in the alerting state; ``and`` this keeps
        the documented duration from the first sample.
        """
        sel = self.series(spec, suffix, **matchers)
        return f"group {self.by(spec, *labels, instance=instance)} ({sel} offset {window})"

    def level(self, spec: MetricSpec, *labels: str) -> str:
        """The ``level`` part of a ``level:metric:operations`` recording-rule name."""
        return "_".join((self.service_label, *(label(spec, name).prom for name in labels)))

    @staticmethod
    def metric(spec: MetricSpec, qualifier: str = "") -> str:
        """The ``metric`` part of a recording-rule name: the Prometheus name without ``_total``."""
        base = spec.prom.removesuffix("_total")
        return f"{base}_{qualifier}" if qualifier else base
