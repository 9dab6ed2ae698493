"""Counting events of a counter over a window without losing the first one.

``increase()`` reads 0 for a series whose first sample already holds the event (a counter
created and incremented between two scrapes, a new instance that failed before its first
scrape): Prometheus has no earlier sample to subtract. A series born inside the window (``x
unless x offset <window>``) is therefore counted by its highest value in the window (its whole
count, and still the count before a restart when it restarted since), every other series by its
increase, so the first event of a new series pages like every later one.

Unlike :meth:`telemetry.promql.Builder.counted` (which takes a born series' *current* value),
the highest value survives a process restart of a series younger than the window: a bulkhead
or recovery job created at zero that rejected or failed and then restarted still counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telemetry.catalog import MetricSpec
    from telemetry.promql import Builder

__all__ = ["counted"]


def counted(
    q: Builder, spec: MetricSpec, labels: tuple[str, ...], window: str, test: str, **matchers: str | tuple[str, ...]
) -> str:
    """``round(sum by (<identity>, labels) (born or increase)) <test>``: whole counts of events in
    the window, series born inside it counted from zero."""
    series = q.series(spec, **matchers)
    born = f"max_over_time({series}[{window}]) and ({series} unless {series} offset {window})"
    return f"round(sum {q.by(spec, *labels)} (\n  ({born})\n  or\n  increase({series}[{window}])\n)) {test}"
