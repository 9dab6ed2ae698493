"""The measuring side of the suite: budgets, rows, interleaved timing, machine facts, reports.

Every case is a function ``case(settings) -> list[Row]``. Timings are medians over
repetitions in which the baseline and its candidates run interleaved (the order rotates each
repetition), so drift in CPU frequency or a noisy neighbour hits all of them alike.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import platform
import statistics
import subprocess
import timeit
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Callable, Sequence

Verdict = Literal["pass", "fail", "info", "skip"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "info", "skip")


@dataclass(frozen=True, slots=True)
class Settings:
    """How hard to measure: ``quick`` proves the harness works in seconds, numbers aside."""

    quick: bool = False

    @property
    def reps(self) -> int:
        return 3 if self.quick else 31

    @property
    def sample_seconds(self) -> float:
        """Target duration of one timed sample of a micro-benchmark."""
        return 0.002 if self.quick else 0.01


@dataclass(frozen=True, slots=True)
class Budget:
    """A limit on a row's ``ratio`` or ``value``: ``op`` is ``<=`` or ``>=``."""

    op: Literal["<=", ">="]
    limit: float
    on: Literal["ratio", "value"] = "ratio"

    def check(self, row: Row) -> Verdict:
        measured = row.ratio if self.on == "ratio" else row.value
        if measured is None:
            return "skip"
        ok = measured <= self.limit if self.op == "<=" else measured >= self.limit
        return "pass" if ok else "fail"

    def describe(self, unit: str) -> str:
        if self.on == "ratio":
            return f"{self.op} {self.limit:.2f}x"
        return f"{self.op} {self.limit:g} {unit}"


@dataclass(slots=True)
class Row:
    """One line of the report. ``ratio`` defaults to ``value / baseline_value`` when there is a
    baseline; micro-benchmarks pass the median of per-repetition paired ratios instead."""

    case: str
    name: str
    value: float | None
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None
    budget: Budget | None = None
    detail: str = ""
    reps: int = 0
    ratio: float | None = None
    verdict: Verdict = field(default="info", init=False)

    def __post_init__(self) -> None:
        if self.ratio is None and self.value is not None and self.baseline_value:
            self.ratio = self.value / self.baseline_value
        if self.value is None:
            self.verdict = "skip"
        elif self.budget is not None:
            self.verdict = self.budget.check(self)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["budget"] = self.budget.describe(self.unit) if self.budget else None
        return data


def skipped(case: str, name: str, reason: str) -> Row:
    """A row for a measurement that could not run here (a missing integration, say)."""
    return Row(case, name, None, "", detail=reason)


@dataclass(frozen=True, slots=True)
class Stmt:
    """A statement to time; ``context`` (a copied :mod:`contextvars` context) runs it inside a span."""

    label: str
    code: str
    context: contextvars.Context | None = None


def _number_for(run: Callable[[int], float], seconds: float) -> int:
    """Executions per sample so that one sample takes about ``seconds``."""
    number = 1
    while True:
        took = run(number)
        if took >= seconds / 10 or number >= 1 << 24:
            return max(1, round(number * seconds / max(took, 1e-9)))
        number *= 10


@dataclass(frozen=True, slots=True)
class Timings:
    """Nanoseconds per execution, one sample per repetition and statement, loop overhead subtracted."""

    samples: dict[str, list[float]]
    reps: int

    def median(self, label: str) -> float:
        return float(statistics.median(self.samples[label]))

    def ratios(self, label: str, baseline: str) -> list[float]:
        """Per-repetition ratios: a burst of load slows both sides of a pair alike."""
        pairs = zip(self.samples[label], self.samples[baseline], strict=True)
        return [value / base for value, base in pairs if base > 0]

    def row(
        self,
        case: str,
        label: str,
        baseline: str | None = None,
        budget: Budget | None = None,
        unit: Literal["ns", "us"] | None = None,
    ) -> Row:
        """A report row, in ``unit``; by default microseconds when the baseline takes 10 us or more."""
        if unit is None:
            unit = "us" if self.median(baseline or label) >= 10_000 else "ns"
        scale = 1e3 if unit == "us" else 1.0
        if baseline is None:
            return Row(case, label, self.median(label) / scale, unit, budget=budget, detail="baseline", reps=self.reps)
        ratios = self.ratios(label, baseline)
        low, _, high = statistics.quantiles(ratios, n=4)
        return Row(
            case,
            label,
            self.median(label) / scale,
            unit,
            baseline,
            self.median(baseline) / scale,
            budget,
            detail=f"paired ratios' quartiles {low:.2f}-{high:.2f}",
            reps=self.reps,
            ratio=statistics.median(ratios),
        )


def time_statements(stmts: Sequence[Stmt], namespace: dict[str, Any], settings: Settings) -> Timings:
    """Time each statement, interleaved: every repetition runs all of them in a rotating order.

    An empty statement is timed alongside for the loop's own cost, which is subtracted;
    garbage collection is off while a sample runs, as in :mod:`timeit`.
    """
    plan = [Stmt("_loop", "pass"), *stmts]
    timers = {s.label: timeit.Timer(s.code, globals=namespace) for s in plan}
    contexts = {s.label: s.context for s in plan}

    def run(label: str, number: int) -> float:
        ctx = contexts[label]
        timer = timers[label]
        return ctx.run(timer.timeit, number) if ctx is not None else timer.timeit(number)

    for s in plan:  # warm-up (caches, connections, first-use imports), then calibrate on warm code
        _number_for(functools.partial(run, s.label), settings.sample_seconds)
    numbers = {s.label: _number_for(functools.partial(run, s.label), settings.sample_seconds) for s in plan}
    samples: dict[str, list[float]] = {s.label: [] for s in plan}
    for rep in range(settings.reps):
        order = plan[rep % len(plan) :] + plan[: rep % len(plan)]
        for s in order:
            samples[s.label].append(run(s.label, numbers[s.label]) / numbers[s.label] * 1e9)
    loop = statistics.median(samples.pop("_loop"))
    return Timings({label: [max(v - loop, 0.0) for v in values] for label, values in samples.items()}, settings.reps)


def rss_bytes(pid: int | None = None) -> int:
    """Resident set size of ``pid`` (this process by default), from ``/proc``."""
    gc.collect()
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    msg = "VmRSS not found in /proc status"
    raise RuntimeError(msg)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dists = ("prometheus-client", "opentelemetry-sdk", "structlog", "fastapi", "uvicorn", "sqlalchemy")
    installed = {d.metadata["Name"].lower().replace("_", "-"): d.version for d in metadata.distributions()}
    versions = {dist: installed.get(dist) for dist in dists}
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "packages": versions,
        "commit": commit,
    }


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.2f} {unit}" if abs(value) < 10 else f"{value:.1f} {unit}"


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table, with the machine and repetitions underneath."""
    lines = [
        "| # | Measurement | Value | Baseline | Ratio | Budget | Verdict | Notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["rows"]:
        number = report["cases"][row["case"]].split(".", 1)[0]
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else "-"
        baseline = row["baseline"] or ""
        if row["baseline_value"] is not None:
            baseline = f"{baseline} ({fmt(row['baseline_value'], row['unit'])})"
        lines.append(
            f"| {number} | {row['name']} | {fmt(row['value'], row['unit'])} | {baseline} | {ratio} "
            f"| {row['budget'] or ''} | {row['verdict']} | {row['detail']} |"
        )
    m = report["machine"]
    lines += [
        "",
        (
            f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['python']}, {m['platform']}, "
            f"load average {m['load_average_1m']} at start."
        ),
        (
            f"Mode: {'quick' if report['quick'] else 'full'}; micro-benchmarks: median of {report['reps']} "
            "interleaved repetitions, loop overhead subtracted; HTTP: median of the rounds given per row."
        ),
    ]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out / "results.json")
    (out / "results.md").write_text(markdown(report))


def null_logs() -> None:
    """structlog rendering JSON lines, as in production, into a null stream (open for the process)."""
    from telemetry.logging import configure_logging

    configure_logging(service="bench", stream=Path(os.devnull).open("w"))  # noqa: SIM115


def emit(rows: list[Row], path: Path) -> None:
    """A case worker's answer to the runner: its rows as JSON."""
    path.write_text(json.dumps([row.to_json() for row in rows]))
