"""The atheris targets, in their bounded quick mode (``make fuzz`` runs them for longer)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from telemetry.testing import require_service

ROOT = Path(__file__).resolve().parents[2]


def test_fuzz_targets_quick_mode() -> None:
    """Every target survives 20 000 coverage-guided inputs (fixed seed) without an exception
    escaping, a broken property or 2 GB of memory; the x-death target joins once its parser exists."""
    require_service(importlib.util.find_spec("atheris") is not None, "atheris (pip install atheris)")
    done = subprocess.run(
        [sys.executable, "-m", "fuzz", "--runs", "20000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    ran = [line.split(":")[0] for line in done.stdout.splitlines()]
    expected = ["correlation_header", "extract", "redaction"]
    if importlib.util.find_spec("telemetry.integrations.aio_pika") is not None:
        expected.append("x_death")
    assert ran == expected
    assert all("Done 20000 runs" in line for line in done.stdout.splitlines())
