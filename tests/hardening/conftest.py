"""Hardening fixtures: an instrumented app with every output captured, the integration table
the sweeping tests (secrets, cardinality) iterate over, and the output sweep itself.

Adding an integration to the sweeps is one :class:`Integration` entry in ``INTEGRATIONS``
(in ``tests/hardening/integrations.py``): its module, and two drivers that push secrets into
every input it reads and flood it with distinct names. An entry whose module is missing or
does not import skips locally with the reason and fails under ``CI=true``: a sweep that loses
an integration (a module moved or renamed) must not pass quietly.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest

import telemetry
from telemetry.logging import unconfigure_logging
from telemetry.testing import in_memory_tracer, json_lines, require_service
from telemetry.testing import json_logs as capture_json_logs


def load_integration(module: str, what: str) -> ModuleType:
    """Import an integration's module for a sweep.

    Missing (moved, renamed, not merged) or not importable (a missing extra, a broken import):
    skip locally, fail under ``CI=true``, so the sweep never loses an integration silently.
    """
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    require_service(spec is not None, f"{what}: module {module} (named by the sweep table, absent from the tree)")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        require_service(available=False, what=f"{what}: {module} importable ({exc!r})")
        raise


@dataclass
class Outputs:
    """Everything one run produced that a person or a machine could read later."""

    registry: CollectorRegistry
    exporter: Any
    stream: io.StringIO
    responses: list[httpx.Response] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)  # health details, error bodies of other integrations

    def log_lines(self) -> list[dict[str, Any]]:
        return json_lines(self.stream)

    def texts(self) -> dict[str, str]:
        """Each output rendered as text, by where it came from."""
        spans = [span.to_json() for span in self.exporter.get_finished_spans()]
        responses = [
            f"{r.status_code} {sorted(r.headers.multi_items())} {r.text}" for r in self.responses if r is not None
        ]
        return {
            "logs": self.stream.getvalue(),
            "spans": "\n".join(spans),
            "metrics": generate_latest(self.registry).decode(),
            "responses": "\n".join(responses),
            "other": "\n".join(self.extra),
        }


def leaks(outputs: Outputs, secrets: list[str]) -> dict[str, list[str]]:
    """Which secrets appear in which output (``{}`` when nothing leaked)."""
    found: dict[str, list[str]] = {}
    for where, text in outputs.texts().items():
        hits = [secret for secret in secrets if secret in text]
        if hits:
            found[where] = hits
    return found


def reset_logging() -> None:
    unconfigure_logging()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The JSON log stream exactly as a service would ship it (redaction included)."""
    with capture_json_logs(service="orders") as logs:
        yield logs.stream


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient
    outputs: Outputs
    telemetry: telemetry.Telemetry

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.get(url, **kwargs)
        self.outputs.responses.append(response)
        return response

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.post(url, **kwargs)
        self.outputs.responses.append(response)
        return response


@pytest.fixture
async def harness(json_logs: io.StringIO) -> AsyncIterator[Harness]:
    """A FastAPI app instrumented into a fresh registry, in-memory spans and JSON logs.

    Integrations add routes to ``harness.app`` before the first request.
    """
    provider, exporter = in_memory_tracer()
    registry = CollectorRegistry()
    app = FastAPI()
    result = telemetry.instrument(app, registry=registry, tracer_provider=provider, service_name="orders")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Harness(app, client, Outputs(registry, exporter, json_logs), result)
    provider.shutdown()
