"""Real gunicorn (uvicorn workers) and ``uvicorn --workers N`` servers for the multiprocess tests.

Each server runs a test app in a fresh ``PROMETHEUS_MULTIPROC_DIR``; requests go on a new
connection each, so the kernel spreads them over the workers, and every response of the
multiprocess test app names the worker that answered (``X-Worker`` header).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from telemetry.testing import require_service

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_env(directory: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update({"PROMETHEUS_MULTIPROC_DIR": str(directory), "PYTHONPATH": str(ROOT), "OTEL_TRACES_EXPORTER": "none"})
    env.update(extra)
    return env


def gunicorn_binary() -> str:
    local = Path(sys.executable).parent / "gunicorn"
    found = str(local) if local.exists() else shutil.which("gunicorn")
    require_service(found is not None, "gunicorn")
    assert found is not None
    return found


def gunicorn_command(tmp_path: Path, directory: Path, port: int, app: str, workers: int) -> list[str]:
    """gunicorn as the README sets it up: ``prepare()`` in the config, ``child_exit`` hooked."""
    config = tmp_path / "gunicorn.conf.py"
    config.write_text(
        textwrap.dedent(f"""
            from telemetry import multiprocess
            multiprocess.prepare({str(directory)!r})
            child_exit = multiprocess.child_exit
            bind = "127.0.0.1:{port}"
            workers = {workers}
            worker_class = "uvicorn.workers.UvicornWorker"
            graceful_timeout = 5
        """),
        encoding="utf-8",
    )
    return [gunicorn_binary(), "-c", str(config), app]


def uvicorn_command(port: int, app: str, workers: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app, "--workers", str(workers), "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str) -> httpx.Response:
        """One request on a fresh connection (so any worker may answer)."""
        with httpx.Client(base_url=self.url, timeout=10) as client:
            response = client.request(method, path)
        assert response.status_code == 200, (response.status_code, response.text)
        return response

    def worker_of(self, response: httpx.Response) -> int:
        return int(response.headers["x-worker"])

    def workers(self, expected: int, path: str = "/hit") -> set[int]:
        """Send requests until ``expected`` distinct workers answered; their pids."""
        seen: set[int] = set()
        for _ in range(600):
            seen.add(self.worker_of(self.request("GET", path)))
            if len(seen) >= expected:
                return seen
        pytest.fail(f"only workers {sorted(seen)} answered 600 requests")

    def on_worker(self, method: str, path: str, pid: int) -> httpx.Response:
        """Send ``path?only=pid`` until worker ``pid`` answers it (the others refuse with 409)."""
        for _ in range(600):
            with httpx.Client(base_url=self.url, timeout=10) as client:
                response = client.request(method, path, params={"only": pid})
            if response.status_code != 409:
                assert response.status_code == 200, (response.status_code, response.text)
                return response
        pytest.fail(f"worker {pid} never answered {path}")

    def scrape(self) -> tuple[int, Samples]:
        """The answering worker and every sample of one ``/metrics``."""
        response = self.request("GET", "/metrics")
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }
        return self.worker_of(response), samples

    def live_files(self) -> list[str]:
        return sorted(p.name for p in self.directory.glob("gauge_live*.db"))

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM to the server's main process only, as an orchestrator sends it; its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], port: int, cwd: Path) -> Iterator[Server]:
    """Start ``command``, wait until ``/hit`` answers, stop the whole process group at the end."""
    log_path = cwd / "server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, port, Path(env["PROMETHEUS_MULTIPROC_DIR"]), log_path)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{server.url}/hit", timeout=1).status_code == 200:
                    break
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.1)
        else:
            pytest.fail(f"server did not start: {log_path.read_text()}")
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
        log.close()


def start(kind: str, tmp_path: Path, app: str, workers: int, **env: str) -> contextlib.AbstractContextManager[Server]:
    """A ``kind`` ("gunicorn" or "uvicorn") server of ``workers`` workers running ``app``."""
    directory = tmp_path / "prom"
    directory.mkdir(exist_ok=True)
    port = free_port()
    if kind == "gunicorn":
        command = gunicorn_command(tmp_path, directory, port, app, workers)
    else:
        command = uvicorn_command(port, app, workers)
    return running(command, worker_env(directory, **env), port, tmp_path)


def only(samples: Samples, name: str, **labels: str) -> Samples:
    """The samples called ``name`` whose labels include ``labels``."""
    return {
        key: value
        for key, value in samples.items()
        if key[0] == name and all(dict(key[1]).get(k) == v for k, v in labels.items())
    }
