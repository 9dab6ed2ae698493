"""``python -m bench [--quick] [--only CASE ...] [--out DIR]``: run the suite and write the report.

Each case runs in a fresh interpreter (``python -m bench --worker CASE``), so one case's
global set-up (tracer provider, structlog, recorder) never leaks into another's numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import CASES
from bench.harness import Settings, emit, machine, markdown, write_report

HERE = Path(__file__).resolve().parent


def _run_case(name: str, quick: bool) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        answer = Path(tmp) / "rows.json"
        command = [sys.executable, "-m", "bench", "--worker", name, "--out", str(answer)]
        done = subprocess.run([*command, *(["--quick"] if quick else [])], cwd=HERE.parent, timeout=900, check=False)
        if done.returncode != 0:
            msg = f"bench case {name!r} failed with exit code {done.returncode}"
            raise SystemExit(msg)
        rows: list[dict[str, object]] = json.loads(answer.read_text())
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, short loads: checks the harness")
    parser.add_argument("--only", action="append", choices=list(CASES), help="run only this case (repeatable)")
    parser.add_argument("--out", type=Path, help="where results.json and results.md go (bench/ for a full run)")
    parser.add_argument("--worker", choices=list(CASES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    settings = Settings(quick=args.quick)
    if args.worker:
        emit(CASES[args.worker][1](settings), args.out)
        return 0
    names = args.only or list(CASES)
    facts = machine()  # before the run: the load average is the one the run started under
    rows: list[dict[str, object]] = []
    for name in names:
        started = time.monotonic()
        print(f"bench: {CASES[name][0]} ...", file=sys.stderr, flush=True)
        rows += _run_case(name, settings.quick)
        print(f"bench: {name} done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    report = {
        "quick": settings.quick,
        "reps": settings.reps,
        "machine": facts,
        "cases": {name: CASES[name][0] for name in names},
        "rows": rows,
    }
    out = args.out or (Path(tempfile.gettempdir()) / "resilience-telemetry-bench" if settings.quick else HERE)
    write_report(report, out)
    print(markdown(report))
    failed = sum(row["verdict"] == "fail" for row in rows)
    print(f"bench: {failed} budget(s) missed; report in {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
