"""Scrape time against worker restarts under gunicorn (3 uvicorn workers), for the README.

``python -m tests.multiprocess.measure [restarts...]`` starts the multiprocess test app, then
SIGKILLs one worker at a time (gunicorn starts a replacement) and after each step reports the
files in the directory and the median and 90th percentile of 30 scrapes. Also times one
:meth:`telemetry.multiprocess.Publisher.publish` of a worker's breakers and pool. Not a test:
the numbers depend on the machine.
"""

from __future__ import annotations

import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.multiprocess.servers import start


def scrape_times(port: int, count: int = 30) -> tuple[float, float]:
    """Median and 90th percentile of ``count`` scrapes, each on a new connection (http.client:
    no TLS context to build, so the time is the server's)."""
    import http.client

    times = []
    for _ in range(count):
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 200
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1]


def main(steps: list[int]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mp-measure-"))
    with start("gunicorn", tmp, "tests.multiprocess.app:app", 3) as server:
        done = 0
        for target in steps:
            while done < target:
                victim = min(server.workers(3))
                os.kill(victim, signal.SIGKILL)
                for _ in range(200):  # until the replacement answers and the victim is gone
                    if victim not in server.workers(3):
                        break
                done += 1
            server.workers(3)
            median, p90 = scrape_times(server.port)
            files = len(list(server.directory.glob("*.db")))
            sys.stdout.write(f"restarts={done:3d} files={files:4d} scrape median={median:6.1f} ms p90={p90:6.1f} ms\n")


def render_cpu(worker_sets: list[int]) -> None:
    """CPU time of one multiprocess render against the number of dead workers' file sets
    (less sensitive to a loaded machine than wall time). Run in a fresh empty directory."""
    import multiprocessing

    from prometheus_client import CollectorRegistry

    from telemetry.exposition import render

    def worker() -> None:
        import telemetry
        from telemetry.events import RetryScheduled

        telemetry.setup(service_name="measure")
        telemetry.circuit_breaker("payments")
        for _ in range(10):
            telemetry.record(RetryScheduled(retry_name="db", attempt=1, delay=0.0))
        from telemetry import multiprocess

        found = multiprocess.publisher()
        assert found is not None
        found.publish()
        found.stop()

    made = 0
    for target in worker_sets:
        while made < target:
            child = multiprocessing.get_context("fork").Process(target=worker)
            child.start()
            child.join()
            made += 1
        render(CollectorRegistry(), None)  # sweeps the dead workers' live files
        times = []
        for _ in range(30):
            started = time.process_time()
            render(CollectorRegistry(), None)
            times.append((time.process_time() - started) * 1000)
        files = len(list(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db")))
        sys.stdout.write(
            f"worker sets={made:3d} files={files:4d} render CPU median={statistics.median(times):6.1f} ms\n"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--render"]:
        render_cpu([int(arg) for arg in sys.argv[2:]] or [3, 23, 53, 103])
    else:
        main([int(arg) for arg in sys.argv[1:]] or [0, 20, 50, 100])
