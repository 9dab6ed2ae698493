"""Several worker processes, one ``/metrics`` (prometheus-client multiprocess mode).

Real gunicorn and ``uvicorn --workers 2`` servers run :mod:`tests.hardening.mp_app`; the tests
check that a scrape on any worker reports the sum over all workers, that live gauges forget
dead workers while counters keep their counts, and exactly which files are cleaned.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemetry.testing import eventually, require_service

pytestmark = pytest.mark.slow  # real gunicorn/uvicorn workers in subprocesses

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_env(directory: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update({"PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(ROOT), "OTEL_TRACES_EXPORTER": "none"})
    return env


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], port: int, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (cwd / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/hit", timeout=1).status_code == 200:
                    break
            assert process.poll() is None, (cwd / "server.log").read_text()
            time.sleep(0.1)
        else:
            pytest.fail(f"server did not start: {(cwd / 'server.log').read_text()}")
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        log.close()


def hit(port: int, times: int) -> set[int]:
    """``times`` requests, each on a new connection so the kernel spreads them over workers."""
    pids = set()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _ in range(times):
            response = client.get("/hit")
            assert response.status_code == 200
            pids.add(response.json()["pid"])
    return pids


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


HITS = ("resilience_retry_scheduled_total", (("error_type", ""), ("retry_name", "hit")))
HIT_REQUESTS = (
    "http_server_request_duration_seconds_count",
    (("http_request_method", "GET"), ("http_response_status_code", "200"), ("http_route", "/hit")),
)
DEGRADED = ("resilience_degraded", (("component", "cache"),))


def run_script(script: str, directory: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=worker_env(directory),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def files_of(directory: Path, pid: int) -> list[str]:
    return sorted(p.name for p in directory.glob(f"*_{pid}.db"))


def test_gunicorn_two_workers_sum_and_child_exit(tmp_path: Path) -> None:
    """gunicorn, 2 uvicorn workers: /metrics on any worker sums both; when a worker is killed,
    child_exit deletes its live-gauge files, its counter files stay and its counts are kept."""
    require_service(
        shutil.which("gunicorn") is not None or (Path(sys.executable).parent / "gunicorn").exists(), "gunicorn"
    )
    directory = tmp_path / "prom"
    (directory / "stale_123.db").parent.mkdir()
    (directory / "counter_999999.db").write_bytes(b"left over from a previous run")
    port = free_port()
    config = tmp_path / "gunicorn.conf.py"
    config.write_text(
        textwrap.dedent(f"""
            from telemetry import multiprocess
            multiprocess.prepare({str(directory)!r})
            child_exit = multiprocess.child_exit
            bind = "127.0.0.1:{port}"
            workers = 2
            worker_class = "uvicorn.workers.UvicornWorker"
            graceful_timeout = 2
        """),
        encoding="utf-8",
    )
    command = [str(Path(sys.executable).parent / "gunicorn"), "-c", str(config), "tests.hardening.mp_app:app"]
    with running(command, worker_env(directory), port, tmp_path):
        assert not (directory / "counter_999999.db").exists()  # prepare() wiped the previous run
        pids = hit(port, 150)
        while len(pids) < 2:
            pids |= hit(port, 50)
        served = scrape(port)
        requests = served[HIT_REQUESTS]
        total = int(requests)
        assert served[HITS] == requests
        assert total >= 150
        assert served[DEGRADED] == 1.0
        victim = min(pids)
        assert "gauge_livemax_" + str(victim) + ".db" in files_of(directory, victim)
        os.kill(victim, signal.SIGKILL)
        eventually(lambda: f"gauge_livemax_{victim}.db" not in files_of(directory, victim), timeout=15, interval=0.1)
        left = files_of(directory, victim)
        assert f"gauge_livemax_{victim}.db" not in left
        assert f"counter_{victim}.db" in left  # by design: the dead worker's counts stay in the sum
        survivors = hit(port, 40)
        assert victim not in survivors
        after = scrape(port)
        assert after[HITS] == total + 40
        assert after[HIT_REQUESTS] == total + 40
        assert after[DEGRADED] == 1.0


def test_uvicorn_workers_sum_and_sweep_on_scrape(tmp_path: Path) -> None:
    """uvicorn --workers 2 (no child_exit hook): sums across workers, and a scrape after a
    worker died sweeps that worker's live-gauge files."""
    directory = tmp_path / "prom"
    directory.mkdir()
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "tests.hardening.mp_app:app",
        "--workers",
        "2",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with running(command, worker_env(directory), port, tmp_path):
        pids = hit(port, 150)
        for _ in range(10):
            if len(pids) >= 2:
                break
            pids |= hit(port, 50)
        served = scrape(port)
        assert served[HITS] == served[HIT_REQUESTS] >= 150
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while f"gauge_livemax_{victim}.db" in files_of(directory, victim) and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                scrape(port)
            time.sleep(0.2)
        # Live gauges gone; counters and histograms stay by design (no relay runs here, so there
        # is no timestamp gauge: a heartbeat exists only once a relay polled).
        assert files_of(directory, victim) == [
            f"counter_{victim}.db",
            f"histogram_{victim}.db",
        ]
        after = scrape(port)
        assert after[HITS] == served[HITS]
        assert after[DEGRADED] == 1.0


def test_dead_worker_gauges_vanish_but_timestamps_and_counters_stay(tmp_path: Path) -> None:
    """In one forked worker: a degraded flag (livemax) disappears once the worker is marked
    dead; the relay heartbeat timestamp (max) and counters survive it."""
    directory = tmp_path / "prom"
    directory.mkdir()
    script = textwrap.dedent("""
        import json, multiprocessing
        from prometheus_client import CollectorRegistry
        from telemetry import catalog, multiprocess
        from telemetry.exposition import render
        from telemetry.metrics import Instruments

        def worker():
            m = Instruments(CollectorRegistry())
            m.set(catalog.DEGRADED, 1, component="s3")
            m.set(catalog.OUTBOX_RELAY_HEARTBEAT, 1700000000.0)
            m.inc(catalog.RETRY_SCHEDULED, retry_name="db", error_type="")

        child = multiprocessing.get_context("fork").Process(target=worker)
        child.start()
        child.join()
        lines = lambda: sorted(
            line for line in render(CollectorRegistry(), None)[0].decode().splitlines()
            if line.startswith(("resilience_degraded{", "resilience_outbox_relay", "resilience_retry_scheduled_total{"))
        )
        print(json.dumps({"swept": multiprocess.sweep_dead_workers() == [child.pid], "lines": lines()}))
    """)
    done = run_script(script, directory)
    assert json.loads(done.stdout) == {
        "swept": True,
        "lines": [
            "resilience_outbox_relay_last_heartbeat_timestamp_seconds 1.7e+09",
            'resilience_retry_scheduled_total{error_type="",retry_name="db"} 1.0',
        ],
    }


def test_cleanup_at_exit_removes_own_live_gauges(tmp_path: Path) -> None:
    """A worker that called cleanup_at_exit() (twice: idempotent) deletes its live-gauge files
    when it exits normally; its counter file stays."""
    directory = tmp_path / "prom"
    directory.mkdir()
    script = textwrap.dedent("""
        import os
        from prometheus_client import CollectorRegistry
        from telemetry import catalog, multiprocess
        from telemetry.metrics import Instruments

        m = Instruments(CollectorRegistry())
        m.set(catalog.DEGRADED, 1, component="s3")
        m.inc(catalog.RETRY_SCHEDULED, retry_name="db", error_type="")
        multiprocess.cleanup_at_exit()
        multiprocess.cleanup_at_exit()
        print(os.getpid())
    """)
    done = run_script(script, directory)
    pid = int(done.stdout)
    assert files_of(directory, pid) == [f"counter_{pid}.db"]
