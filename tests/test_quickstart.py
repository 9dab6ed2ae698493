"""The quick-start example runs and shows what the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_prints_metrics_logs_and_span_events() -> None:
    """`python -m examples.quickstart` exits 0, shows a success after retry, JSON log lines
    with correlation IDs, span events, and never prints the secret from the crash."""
    run = subprocess.run(
        [sys.executable, "-m", "examples.quickstart"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert 'resilience_retry_calls_total{outcome="success_after_retry",retry_name="orders_db"} 2.0' in out
    assert '"correlation_id": "demo-3"' in out
    assert "telemetry.retry.scheduled" in out
    assert "do-not-log-me" not in out + run.stderr
    assert out.rstrip().endswith("quickstart: OK")
