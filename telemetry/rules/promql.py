"""PromQL building blocks that take names from the catalog and fail on anything else.

Series selectors and grouping clauses are built only from :class:`~telemetry.catalog.MetricSpec`
objects: a label that is not in the spec, or a value outside a closed label's value set, raises
``ValueError`` at generation time instead of producing a rule that silently matches nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telemetry.catalog import MetricSpec
    from telemetry.rules.config import RulesConfig

__all__ = ["Builder", "number"]


def number(value: float) -> str:
    """A threshold as PromQL prints it: ``0.0144`` rather than ``0.014400000000000012``."""
    return format(round(value, 9), "g")


class Builder:
    """Selectors and clauses for one :class:`RulesConfig` (its selector and service label)."""

    __slots__ = ("config",)

    def __init__(self, config: RulesConfig) -> None:
        self.config = config

    def series(self, spec: MetricSpec, suffix: str = "", **matchers: str | tuple[str, ...]) -> str:
        """``name{<config selector>, label="v", other=~"a|b"}``; a tuple value is a regex union.

        ``suffix`` picks a histogram series (``_bucket``, ``_count``); ``le`` is allowed there.
        """
        name = spec.prom + suffix
        if name not in spec.series_names:
            msg = f"{name} is not a series of {spec.name}"
            raise ValueError(msg)
        parts = [self.config.selector] if self.config.selector else []
        for key, value in matchers.items():
            values = (value,) if isinstance(value, str) else value
            if not (key == "le" and suffix == "_bucket"):
                self._check(spec, key, values)
            if isinstance(value, str):
                parts.append(f'{key}="{value}"')
            else:
                parts.append(f'{key}=~"{"|".join(value)}"')
        return f"{name}{{{', '.join(parts)}}}" if parts else name

    def by(self, spec: MetricSpec, *labels: str, instance: bool = False) -> str:
        """``by (service[, instance], labels...)``: the service label always leads."""
        for label in labels:
            self._check(spec, label, ())
        head = [self.config.service_label, "instance"] if instance else [self.config.service_label]
        return f"by ({', '.join(head + list(labels))})"

    def level(self, spec: MetricSpec, *labels: str) -> str:
        """The ``level`` part of a ``level:metric:operations`` recording-rule name."""
        for label in labels:
            self._check(spec, label, ())
        return "_".join((self.config.service_label, *labels))

    @staticmethod
    def metric(spec: MetricSpec, qualifier: str = "") -> str:
        """The ``metric`` part of a recording-rule name: the Prometheus name without ``_total``."""
        base = spec.prom.removesuffix("_total")
        return f"{base}_{qualifier}" if qualifier else base

    @staticmethod
    def _check(spec: MetricSpec, key: str, values: tuple[str, ...]) -> None:
        for label in spec.labels:
            if label.prom == key:
                unknown = [value for value in values if label.values is not None and value not in label.values]
                if unknown:
                    msg = f"{unknown} are not values of {spec.name}{{{key}}} ({label.values})"
                    raise ValueError(msg)
                return
        msg = f"{key!r} is not a label of {spec.name} ({spec.label_names})"
        raise ValueError(msg)
