"""HTTP cases: a closed-loop load generator on loopback against server processes of our own.

The generator (this process) keeps ``CONCURRENCY`` keep-alive connections busy with raw
HTTP/1.1 requests over asyncio streams, far cheaper per request than the server's side, so the
server is the bottleneck. Variants are loaded one at a time, in rotating order, round after
round; each figure is the median over rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bench.harness import Budget, Row, Settings, rss_bytes, skipped

if TYPE_CHECKING:
    from collections.abc import Iterator

CONCURRENCY: Final = 16
ROOT: Final = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Load:
    """One round against one server."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


HELLO: Final = "/orders/42"
DATABASE: Final = "/db/42"
DATABASE_URL: Final = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def _client(port: int, deadline: float, latencies: list[float], errors: list[int], path: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    try:
        while (started := time.perf_counter()) < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(1)
    finally:
        writer.close()


async def _load(port: int, seconds: float, path: str) -> Load:
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(_client(port, deadline, latencies, errors, path) for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Load(
        requests=len(latencies),
        rps=len(latencies) / elapsed,
        p50_ms=latencies[len(latencies) // 2] * 1e3,
        p99_ms=latencies[int(len(latencies) * 0.99)] * 1e3,
        errors=len(errors),
    )


def load(port: int, seconds: float, path: str = HELLO) -> Load:
    return asyncio.run(_load(port, seconds, path))


def _wait_ready(proc: subprocess.Popen[bytes], port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            msg = f"bench server exited with {proc.returncode} before listening on {port}"
            raise RuntimeError(msg)
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    msg = f"bench server did not listen on {port} within {timeout:.0f} s"
    raise RuntimeError(msg)


@contextlib.contextmanager
def processes(*specs: tuple[list[str], dict[str, str]]) -> Iterator[list[tuple[subprocess.Popen[bytes], int]]]:
    """Start ``python -m bench.apps <args> <port>`` for each spec (in parallel); stop them after."""
    started: list[tuple[subprocess.Popen[bytes], int]] = []
    try:
        for args, env in specs:
            port = _free_port()
            command = [sys.executable, "-m", "bench.apps", *args, str(port)]
            proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
            started.append((proc, port))
        for proc, port in started:
            _wait_ready(proc, port)
        yield started
    finally:
        for proc, _ in started:
            proc.terminate()
        for proc, _ in started:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _rounds(settings: Settings) -> tuple[int, float]:
    """Rounds, and seconds per round."""
    return (1, 0.5) if settings.quick else (12, 1.5)


def _warm_up(ports: dict[str, int], settings: Settings, min_requests: int = 0, path: str = HELLO) -> None:
    """Load each server briefly, then on until it served ``min_requests`` (30 s at most)."""
    for port in ports.values():
        served = load(port, 0.3 if settings.quick else 2.0, path).requests
        deadline = time.monotonic() + 30
        while not settings.quick and served < min_requests and time.monotonic() < deadline:
            served += load(port, 1.0, path).requests


def _measure(ports: dict[str, int], settings: Settings, path: str = HELLO) -> dict[str, list[Load]]:
    """Interleaved rounds over every server (the order rotates), after :func:`_warm_up`."""
    rounds, seconds = _rounds(settings)
    names = list(ports)
    results: dict[str, list[Load]] = {name: [] for name in names}
    for rnd in range(rounds):
        for name in names[rnd % len(names) :] + names[: rnd % len(names)]:
            results[name].append(load(ports[name], seconds, path))
    return results


def _median(loads: list[Load], field: str) -> float:
    return float(statistics.median(getattr(run, field) for run in loads))


def _row(
    case: str,
    label: str,
    results: dict[str, list[Load]],
    name: str,
    *,
    field: str,
    unit: str,
    baseline: tuple[str, str] | None = None,
    budget: Budget | None = None,
) -> Row:
    """A row for ``results[name]``'s median ``field``; with ``(label, name)`` of a baseline, the
    ratio is the median of per-round ratios (each round loads both within seconds)."""
    loads = results[name]
    errors = sum(run.errors for run in loads)
    detail = f"{_median(loads, 'rps'):,.0f} req/s, p50 {_median(loads, 'p50_ms'):.2f} ms, "
    detail += f"p99 {_median(loads, 'p99_ms'):.2f} ms" + (f", {errors} non-200" if errors else "")
    if baseline is None:
        return Row(case, label, _median(loads, field), unit, detail=detail, reps=len(loads))
    base_label, base = baseline
    ratios = [getattr(a, field) / getattr(b, field) for a, b in zip(loads, results[base], strict=True)]
    if len(ratios) > 1:
        low, _, high = statistics.quantiles(ratios, n=4)
        detail += f"; per-round ratios' quartiles {low:.2f}-{high:.2f}"
    return Row(
        case,
        label,
        _median(loads, field),
        unit,
        base_label,
        _median(results[base], field),
        budget,
        detail=detail,
        reps=len(loads),
        ratio=statistics.median(ratios),
    )


OTEL: Final = "OpenTelemetry FastAPI instrumentation only"
HAND: Final = "by hand: OTel + prometheus-fastapi-instrumentator + asgi-correlation-id"
FULL: Final = "telemetry.instrument(app) (OTel instrumentation + our layer)"


def http(settings: Settings) -> list[Row]:
    """Case 5: requests/s and latency of the bare app, OTel's instrumentation, the stack a user
    would assemble by hand, and the full set-up, on a hello-world endpoint."""
    no_export = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_EXPORTER": "none"}
    bare = "bare FastAPI app"
    names = ("bare", "otel", "hand", "full")
    with processes(*((["serve", variant], no_export) for variant in names)) as servers:
        ports = {name: port for name, (_, port) in zip(names, servers, strict=True)}
        _warm_up(ports, settings)
        results = _measure(ports, settings)
    return [
        _row("http", bare, results, "bare", field="rps", unit="req/s"),
        _row("http", OTEL, results, "otel", field="rps", unit="req/s", baseline=(bare, "bare")),
        _row("http", HAND, results, "hand", field="rps", unit="req/s", baseline=(bare, "bare")),
        *_full_rows("http", results, OTEL, vs_otel=0.97, vs_hand=1.15),
    ]


def _full_rows(case: str, results: dict[str, list[Load]], otel: str, *, vs_otel: float, vs_hand: float) -> list[Row]:
    """The full set-up's throughput against OpenTelemetry alone and against the stack by hand."""
    return [
        _row(
            case,
            FULL,
            results,
            "full",
            field="rps",
            unit="req/s",
            baseline=(otel, "otel"),
            budget=Budget(">=", vs_otel),
        ),
        _row(
            case,
            f"{FULL}, vs by hand",
            results,
            "full",
            field="rps",
            unit="req/s",
            baseline=(HAND, "hand"),
            budget=Budget(">=", vs_hand),
        ),
    ]


def http_db(settings: Settings) -> list[Row]:
    """Case 10: an async SQLAlchemy/PostgreSQL endpoint (asyncpg), query spans on in every
    instrumented variant (OTel's SQLAlchemy instrumentation), so the comparison is like for like."""
    from telemetry.testing import port_open

    if not port_open("127.0.0.1", 5432):
        return [
            skipped(
                "http_db", f"{FULL}, SQLAlchemy endpoint", "integration not available: PostgreSQL on 127.0.0.1:5432"
            )
        ]
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_EXPORTER": "none", "BENCH_DATABASE_URL": DATABASE_URL}
    names = ("otel", "hand", "full")
    with processes(*((["serve", variant], env) for variant in names)) as servers:
        ports = {name: port for name, (_, port) in zip(names, servers, strict=True)}
        _warm_up(ports, settings, path=DATABASE)
        results = _measure(ports, settings, path=DATABASE)
    otel = f"{OTEL} (+ SQLAlchemy query spans)"
    return [
        _row("http_db", otel, results, "otel", field="rps", unit="req/s"),
        _row("http_db", HAND, results, "hand", field="rps", unit="req/s", baseline=(otel, "otel")),
        *_full_rows("http_db", results, otel, vs_otel=0.97, vs_hand=1.0),
    ]


def outage(settings: Settings) -> list[Row]:
    """Case 6: the full set-up exporting spans to a live OTLP sink vs to a closed port."""
    with processes((["sink"], {})) as [(_, sink_port)]:
        closed = _free_port()  # bound and released: nothing listens there
        live_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}"}
        dead_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed}"}
        with processes((["serve", "full"], live_env), (["serve", "full"], dead_env)) as servers:
            (live, live_port), (dead, dead_port) = servers
            ports = {"live": live_port, "dead": dead_port}
            # With the endpoint dead, the span queue (2,048) fills within seconds, but resident
            # memory settles only after about 25,000 requests (exporter retries, log records,
            # allocator arenas): warm up past that before the first reading.
            _warm_up(ports, settings, min_requests=25_000)
            before = {"live": rss_bytes(live.pid), "dead": rss_bytes(dead.pid)}
            results = _measure(ports, settings)
            growth = {
                "live": (rss_bytes(live.pid) - before["live"]) / 2**20,
                "dead": (rss_bytes(dead.pid) - before["dead"]) / 2**20,
            }
    live_label = "OTLP endpoint live: p99 latency"
    rounds = len(results["live"])
    return [
        _row("outage", live_label, results, "live", field="p99_ms", unit="ms"),
        _row(
            "outage",
            "OTLP endpoint a closed port: p99 latency",
            results,
            "dead",
            field="p99_ms",
            unit="ms",
            baseline=(live_label, "live"),
            budget=Budget("<=", 1.10),
        ),
        Row(
            "outage",
            "OTLP endpoint live: server RSS growth under load",
            growth["live"],
            "MB",
            detail="from the end of warm-up to the end of load",
            reps=rounds,
        ),
        Row(
            "outage",
            "OTLP endpoint a closed port: server RSS growth under load",
            growth["dead"],
            "MB",
            budget=Budget("<=", 5.0, on="value"),
            detail="from the end of warm-up to the end of load; spans past the full batch queue are dropped",
            reps=rounds,
        ),
    ]
