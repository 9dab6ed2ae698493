"""The report's PNG charts, drawn with matplotlib from a drill record (see :mod:`.evidence`).

Only matplotlib's Agg canvas and its bundled default font are used, so a chart looks the same
on any machine, with no display and no system fonts. Time runs left to right in seconds since
the drill started, the same axis on every chart, so a page's panels line up with the timeline.
"""

from __future__ import annotations

import io
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

FAULT = "#8da9c4"
PENDING = "#f2b134"
FIRING = "#d64545"
RESOLVED = "#2e8b57"
THRESHOLD = "#c0392b"
_LEGEND_MAX = 10
_UNIT_LABELS = {"s": "seconds", "ops": "per second", "cps": "per second", "reqps": "per second"}
_TEMPLATE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - the message is the point
        msg = "the drill's HTML report needs matplotlib: pip install 'resilience-telemetry[demo]'"
        raise ImportError(msg) from exc
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _shade_faults(ax: Axes, record: dict[str, Any], only: str | None = None, *, label: bool = True) -> None:
    t0 = record["started"]
    for index, fault in enumerate(record["faults"]):
        if only is not None and fault["scenario"] != only:
            continue
        end = fault["end"] if fault["end"] is not None else record["ended"]
        ax.axvspan(fault["start"] - t0, end - t0, color=FAULT, alpha=0.25, linewidth=0)
        if label:  # staggered, so the names of short neighbouring faults do not overlap
            ax.text(
                (fault["start"] + end) / 2 - t0,
                1.0 + 0.045 * (index % 2),
                fault["scenario"],
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=8,
            )


def alert_rows(record: dict[str, Any]) -> list[str]:
    """Alerts on the timeline, top to bottom: the expected pages in drill order, then any
    other alert that went pending during the drill."""
    expected = [page["alertname"] for page in record["pages"]]
    others = sorted(name for name in record["alerts"] if name not in expected)
    return list(dict.fromkeys(expected + others))


def timeline_png(record: dict[str, Any]) -> bytes:
    """Fault bands, each alert's pending and firing intervals, and when each page (and its
    resolved notification) reached the pager."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = alert_rows(record)
    t0 = record["started"]
    figure = _figure(11, 1.6 + 0.45 * max(len(rows), 1))
    ax = figure.add_subplot()
    _shade_faults(ax, record)
    for y, name in enumerate(rows):
        states = record["alerts"].get(name, {})
        for state, colour in (("pending", PENDING), ("firing", FIRING)):
            bars = [(start - t0, max(end - start, record["step"])) for start, end in states.get(state, [])]
            ax.broken_barh(bars, (y - 0.3, 0.6), facecolors=colour)
        for page in record["pages"]:
            if page["alertname"] != name:
                continue
            if page["paged_at"] is not None:
                ax.plot(page["paged_at"] - t0, y, marker="v", color="black", markersize=9, linestyle="none")
            if page["resolved_at"] is not None:
                ax.plot(page["resolved_at"] - t0, y, marker="o", color=RESOLVED, markersize=7, linestyle="none")
    expected = len({page["alertname"] for page in record["pages"]})
    if 0 < expected < len(rows):  # below the line: alerts that went pending but were not drilled
        ax.axhline(expected - 0.5, color="grey", linewidth=0.8)
    ax.set_yticks(range(len(rows)), rows, fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, record["ended"] - t0)
    ax.set_xlabel("seconds since the drill started")
    ax.grid(axis="x", alpha=0.3)
    figure.legend(
        handles=[
            Patch(color=FAULT, alpha=0.4, label="fault injected"),
            Patch(color=PENDING, label="pending"),
            Patch(color=FIRING, label="firing"),
            Line2D([], [], marker="v", color="black", linestyle="none", label="page received"),
            Line2D([], [], marker="o", color=RESOLVED, linestyle="none", label="resolved notification"),
        ],
        loc="outside lower center",
        ncols=5,
        fontsize=8,
        frameon=False,
    )
    return _png(figure)


def legend_text(template: str, labels: dict[str, str]) -> str:
    """Grafana's ``{{label}}`` legend format filled from a series' labels."""
    text = " ".join(_TEMPLATE.sub(lambda m: labels.get(m.group(1), ""), template).split())
    return text or ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"


def _y_axis(ax: Axes, panel: dict[str, Any], line: dict[str, Any] | None) -> None:
    """States by name, ratios in percent, everything else from zero, as the dashboard shows it."""
    if panel.get("mappings"):
        values = sorted(panel["mappings"], key=float)
        ax.set_yticks([float(v) for v in values], [panel["mappings"][v] for v in values])
        ax.set_ylim(min(float(v) for v in values) - 0.3, max(float(v) for v in values) + 0.3)
        return
    if panel["unit"] == "percentunit":
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1))
    ax.set_ylim(bottom=0)
    if line is not None and line["value"] <= ax.get_ylim()[0]:
        bottom, top = ax.get_ylim()  # lift a threshold at the floor (``> 0``) off the axis line
        ax.set_ylim(bottom - 0.04 * (top - bottom), top)


def _draw_panel(ax: Axes, record: dict[str, Any], page: dict[str, Any], panel: dict[str, Any]) -> int:
    """One panel's series on ``ax``; returns how many series it drew."""
    t0 = record["started"]
    _shade_faults(ax, record, page["scenario"], label=False)
    for start, end in record["alerts"].get(page["alertname"], {}).get("firing", []):
        ax.axvspan(start - t0, end - t0, color=FIRING, alpha=0.10, linewidth=0)
    if page["paged_at"] is not None:
        ax.axvline(page["paged_at"] - t0, color="black", linewidth=0.8, linestyle=":")
    line = panel.get("threshold")
    if line is not None:  # first, so a long legend never crowds it out
        ax.axhline(line["value"], color=THRESHOLD, linestyle="--", linewidth=1.3, label=line["label"])
    drawn = 0
    state = panel["type"] == "state-timeline"
    for target in panel["targets"]:
        for series in target.get("series", []):
            xs = [t - t0 for t, _ in series["values"]]
            ys = [math.nan if v is None else v for _, v in series["values"]]
            ax.plot(
                xs,
                ys,
                linewidth=1.4,
                drawstyle="steps-post" if state else "default",
                label=legend_text(target["legend"], series["metric"]),
            )
            drawn += 1
    _y_axis(ax, panel, line)
    ax.set_ylabel(_UNIT_LABELS.get(panel["unit"], ""))
    ax.set_xlim(0, record["ended"] - t0)
    ax.set_title(f"{page['dashboard'].get('title', '')} / {panel['title']}", fontsize=10, loc="left")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if not drawn:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="grey")
    if handles:
        keep = list(zip(handles, labels, strict=True))[:_LEGEND_MAX]
        ax.legend(
            [h for h, _ in keep],
            [label for _, label in keep],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            frameon=False,
        )
    return drawn


def page_png(record: dict[str, Any], page: dict[str, Any]) -> bytes:
    """The page's dashboard panels stacked, sharing the drill's time axis; the fault band,
    the firing interval and the moment the page arrived are marked on each."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    panels = page["panels"]
    figure = _figure(11, 0.7 + 2.5 * max(len(panels), 1))
    axes = figure.subplots(max(len(panels), 1), 1, squeeze=False, sharex=True)[:, 0]
    if not panels:
        axes[0].text(0.5, 0.5, "no panel reads this alert's metrics", ha="center", va="center")
        axes[0].set_axis_off()
    for ax, panel in zip(axes, panels, strict=False):
        _draw_panel(ax, record, page, panel)
    axes[-1].set_xlabel("seconds since the drill started")
    figure.legend(
        handles=[
            Patch(color=FAULT, alpha=0.4, label=f"fault injected ({page['scenario']})"),
            Patch(color=FIRING, alpha=0.2, label=f"{page['alertname']} firing"),
            Line2D([], [], color="black", linewidth=0.8, linestyle=":", label="page received"),
            Line2D([], [], color=THRESHOLD, linewidth=1.3, linestyle="--", label="threshold"),
        ],
        loc="outside lower center",
        ncols=4,
        fontsize=8,
        frameon=False,
    )
    return _png(figure)
