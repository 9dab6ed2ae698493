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


def test_submodules_are_modules_not_shadowed_by_functions() -> None:
    """``import telemetry.breaker as tb`` gives the module; the breaker factory has its own name."""
    import types

    import telemetry.breaker as tb
    from telemetry import fallback, retry

    assert [type(tb), type(retry), type(fallback)] == [types.ModuleType] * 3
    assert telemetry.breaker is tb
    assert telemetry.circuit_breaker is tb.circuit_breaker
    assert telemetry.retry_scheduled is retry.retry_scheduled
    assert telemetry.set_degraded is fallback.set_degraded


# Each optional library is blocked in a fresh interpreter (``sys.modules[name] = None`` makes
# any import of it fail); every entry point must then name the extra that installs it.
MISSING_LIBRARY_CALLS = {
    "stamina": [
        "from telemetry.integrations.stamina import instrument_stamina as f; f()",
        "from telemetry.integrations.stamina import uninstrument_stamina as f; f()",
        "from telemetry.integrations.stamina import is_instrumented as f; f()",
        "from telemetry.integrations.stamina import retry as f; f(on=ValueError)",
    ],
    "tenacity": ["from telemetry.integrations.tenacity import instrument_retrying as f; f(object())"],
    "pybreaker": ["from telemetry.integrations.pybreaker import instrument_breaker as f; f(object())"],
    "purgatory": ["from telemetry.integrations.purgatory import instrument_factory as f; f(object())"],
    "sqlalchemy": ["from telemetry.integrations.sqlalchemy import instrument_engine as f; f(object())"],
    "fastapi": ["from telemetry.integrations.fastapi import instrument_app as f; f(object())"],
}


def test_a_missing_optional_library_gives_the_install_hint() -> None:
    """No bare ModuleNotFoundError: an ImportError whose message is the pip install hint."""
    script = f"""
import json, sys
results = []
for library, calls in {MISSING_LIBRARY_CALLS!r}.items():
    for call in calls:
        for name in list(sys.modules):
            if name == library or name.startswith(library + ".") or name.startswith("telemetry.integrations"):
                del sys.modules[name]
        sys.modules[library] = None
        try:
            exec(call)
            results.append([library, "no error"])
        except ImportError as exc:
            results.append([library, type(exc).__name__, str(exc).rpartition(": ")[2]])
        del sys.modules[library]
print(json.dumps(results))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    expected = [
        [library, "ImportError", f"pip install 'resilience-telemetry[{library}]'"]
        for library, calls in MISSING_LIBRARY_CALLS.items()
        for _call in calls
    ]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected
