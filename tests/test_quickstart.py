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


README = ROOT / "README.md"

_DRIVER = """
import asyncio
import httpx


async def main() -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        read = await client.get("/orders/7", headers={"X-Correlation-ID": "qs-1"})
        assert read.status_code == 200 and read.json() == {"id": 7}, read.text
        assert read.headers["x-correlation-id"] == "qs-1"
        missing = await client.get("/nowhere", headers={"X-Correlation-ID": "qs-2"})
        assert missing.json()["correlation_id"] == "qs-2", missing.text
        print("METRICS")
        print((await client.get("/metrics")).text)


asyncio.run(main())
"""


def quick_start_code() -> str:
    """The README's Quick start Python block, as written."""
    section = README.read_text(encoding="utf-8").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_quick_start_runs_and_its_metrics_have_data(tmp_path: Path) -> None:
    """The Quick start block, run as written outside the repository: the request is answered with its
    correlation ID, an error gets the envelope, and /metrics has the documented series with the request's
    labels and no *_created series."""
    script = tmp_path / "service.py"
    script.write_text(quick_start_code() + _DRIVER, encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    metrics = run.stdout.split("METRICS\n", 1)[1]
    assert (
        'http_server_request_duration_seconds_count{error_type="",http_request_method="GET",'
        'http_response_status_code="200",http_route="/orders/{order_id}",url_scheme="http"} 1.0'
    ) in metrics
    scheduled = [line for line in metrics.splitlines() if line.startswith("resilience_retry_scheduled_total{")]
    assert scheduled == ['resilience_retry_scheduled_total{error_type="",retry_name="orders_db"} 1.0']
    assert [line for line in metrics.splitlines() if "_created" in line] == []
