"""Counting events of a counter over a window without losing the first one.

``increase()`` reads 0 for a series whose first sample already holds the event (a counter
created and incremented between two scrapes, a new instance that failed before its first
scrape): Prometheus has no earlier sample to subtract. Series born inside the window are
therefore also counted by their whole value (``x unless x offset <window>``), so the first
event of a new series pages like every later one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telemetry.catalog import MetricSpec
    from telemetry.promql import Builder

__all__ = ["counted"]


def counted(q: Builder, spec: MetricSpec, labels: tuple[str, ...], window: str, test: str, **matchers: str) -> str:
    """``round(sum by (service, labels) (increase(x[window]))) <test>``, or, for series born
    inside the window, ``sum by (...) (x unless x offset window) <test>``; whole counts either way."""
    series = q.series(spec, **matchers)
    by = q.by(spec, *labels)
    return (
        f"round(sum {by} (increase({series}[{window}]))) {test}\n"
        f"or\nsum {by} ({series} unless {series} offset {window}) {test}"
    )
