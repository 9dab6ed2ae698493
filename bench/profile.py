"""``python -m bench.profile [VARIANT] [--path PATH] [--seconds S]``: where the per-request
microseconds go in one HTTP server variant (``full`` by default), sampled with py-spy.

The server runs as in the HTTP cases (uvicorn h11, one worker, 16 keep-alive connections from
this process); py-spy samples it while it is loaded. Printed: the server's CPU time per request,
its split by package (self time), and the functions of this package and of OpenTelemetry with
the most inclusive time per request. A missed HTTP budget is explained with this output.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench.web import DATABASE, DATABASE_URL, HELLO, load, processes

RATE = 1000  # samples per second
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")
PACKAGES = (
    "telemetry",
    "opentelemetry",
    "prometheus_client",
    "starlette",
    "fastapi",
    "pydantic",
    "uvicorn",
    "h11",
    "asyncio",
    "sqlalchemy",
    "asyncpg",
    "structlog",
)


def _package(path: str) -> str:
    """The top-level package of a frame's file as py-spy prints it (relative to site-packages
    or to the working directory, so ``fastapi/telemetry/...`` is FastAPI's, not ours)."""
    first = Path(path).parts[0] if Path(path).parts else ""
    return first if first in PACKAGES else "other (stdlib, interpreter)"


def _parse(raw: str) -> tuple[int, collections.Counter[str], collections.Counter[str]]:
    """Samples, self samples per package, inclusive samples per function (each once a stack)."""
    total = 0
    by_package: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [m for m in (_FRAME.match(frame) for frame in stack.split(";")) if m]
        if not frames:
            continue
        total += count
        by_package[_package(frames[-1]["file"])] += count
        for name in {f"{m['func']} ({m['file']})" for m in frames}:
            inclusive[name] += count
    return total, by_package, inclusive


def profile(variant: str, path: str, seconds: float) -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        msg = "the profile mode needs py-spy (in the dev group: pip install py-spy)"
        raise SystemExit(msg)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_EXPORTER": "none"}
    if path == DATABASE:
        env["BENCH_DATABASE_URL"] = DATABASE_URL
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp, processes((["serve", variant], env)) as servers:
        [(server, port)] = servers
        load(port, 2.0, path)  # warm-up
        out = Path(tmp) / "raw.txt"
        command = [spy, "record", "--format", "raw", "--rate", str(RATE), "--nonblocking"]
        command += ["-d", str(int(seconds)), "-o", str(out), "-p", str(server.pid)]
        sampler = threading.Thread(target=subprocess.run, args=(command,), kwargs={"capture_output": True})
        sampler.start()
        served = load(port, seconds, path)
        sampler.join()
        raw = out.read_text() if out.exists() else ""
    total, by_package, inclusive = _parse(raw)
    if not total or not served.requests:
        return "profile: no samples (py-spy needs ptrace permission on the server process)"
    per_request = 1e6 / RATE / served.requests  # one sample's microseconds, per request served
    head = f"profile of {variant!r} {path}: {served.requests:,} requests in {seconds:g} s ({served.rps:,.0f} req/s), "
    lines = [
        head + f"{total:,} samples, server CPU {total * per_request:.0f} us per request (sampling slows it down)",
        "",
        "self time by package, us per request:",
        *(f"  {count * per_request:7.1f}  {name}" for name, count in by_package.most_common()),
        "",
        "inclusive time of this package's and OpenTelemetry's functions, us per request:",
    ]
    ours = [
        (name, count)
        for name, count in inclusive.most_common()
        if name.rpartition("(")[2].startswith(("telemetry/", "opentelemetry/"))
    ]
    lines += [f"  {count * per_request:7.1f}  {name}" for name, count in ours[:25]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("variant", nargs="?", default="full", choices=("bare", "otel", "hand", "full"))
    parser.add_argument("--path", default=HELLO, choices=(HELLO, DATABASE))
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    print(profile(args.variant, args.path, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
