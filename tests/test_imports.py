"""Importing any telemetry module has no side effects and pulls in no optional dependency."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import telemetry

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "aio_pika",
    "aiormq",
    "botocore",
    "boto3",
    "pybreaker",
    "purgatory",
    "tenacity",
    "stamina",
    "redis",
    "prometheus_client",
    "structlog",
    "grafanalib",
)


def all_modules() -> list[str]:
    names = ["telemetry"]
    for info in pkgutil.walk_packages(telemetry.__path__, "telemetry."):
        names.append(info.name)
    return sorted(names)


def test_every_module_imports_without_side_effects() -> None:
    """A fresh interpreter imports every module; no optional library, no logging handler,
    no structlog configuration, no global tracer provider appears."""
    script = f"""
import json, logging, sys
modules = {all_modules()!r}
for name in modules:
    __import__(name)
from opentelemetry import trace
print(json.dumps({{
    "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules),
    "root_handlers": len(logging.getLogger().handlers),
    "tracer_provider": type(trace.get_tracer_provider()).__name__,
    "count": len(modules),
}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {
        "heavy": [],
        "root_handlers": 0,
        "tracer_provider": "ProxyTracerProvider",
        "count": len(all_modules()),
    }


def test_public_api_is_sorted_and_complete() -> None:
    """__all__ lists exactly the public names, sorted."""
    assert telemetry.__all__ == sorted(telemetry.__all__)
    for name in telemetry.__all__:
        assert hasattr(telemetry, name), name
