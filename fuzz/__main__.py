"""Run every fuzz target in its own process: ``python -m fuzz (--runs N | --seconds S)``."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from fuzz.targets import available

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--runs", type=int, help="inputs per target (the quick, bounded mode)")
    mode.add_argument("--seconds", type=int, help="time per target (make fuzz)")
    parser.add_argument("--only", action="append", help="run only this target (repeatable)")
    args = parser.parse_args()
    limit = f"-runs={args.runs}" if args.runs is not None else f"-max_total_time={args.seconds}"
    # Quick mode is reproducible (fixed seed); long runs explore from a fresh seed each time.
    seed = ["-seed=1"] if args.runs is not None else []
    failed = []
    for name in args.only or sorted(available()):
        # -rss_limit_mb bounds memory: an input that blows it up is a finding, not a hang.
        artifacts = Path(tempfile.gettempdir(), "resilience-telemetry-fuzz", name)
        artifacts.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "fuzz.targets",
            name,
            limit,
            "-rss_limit_mb=2048",
            f"-artifact_prefix={artifacts}/",
            *seed,
        ]
        done = subprocess.run(command, cwd=ROOT, check=False, capture_output=True)
        log = done.stderr.decode(errors="replace")
        summary = " ".join(line for line in log.splitlines() if line.startswith("Done"))
        print(f"{name}: exit {done.returncode} {summary}")
        if done.returncode != 0:
            sys.stderr.write(log[-4000:] + f"\nthe failing input is in {artifacts}\n")
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
