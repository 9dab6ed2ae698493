"""The server span and the HTTP metric use the same stable HTTP semantic conventions.

Each case runs in a fresh interpreter: OpenTelemetry's instrumentations read
``OTEL_SEMCONV_STABILITY_OPT_IN`` once per process, when the first of them instruments.
"""

from __future__ import annotations

from typing import Any

from telemetry.attributes import HTTP_SERVER_SPAN_ATTRIBUTES
from tests.conftest import json_from_fresh_process

SCRIPT = """
import json, os
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
import telemetry
from telemetry.integrations.fastapi import instrument_app

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
registry = CollectorRegistry()
t = telemetry.setup(service_name="semconv", tracer_provider=provider, registry=registry)
app = FastAPI()

@app.get("/orders/{order_id}")
def order(order_id: str) -> dict:
    return {"id": order_id}

@app.get("/boom")
def boom() -> dict:
    raise RuntimeError("down")

instrument_app(app, telemetry=t)
client = TestClient(app, raise_server_exceptions=False)
client.get("/orders/7?token=abc")
client.get("/boom")
spans = {s.name: dict(s.attributes) for s in exporter.get_finished_spans() if s.kind.name == "SERVER"}
series = [
    dict(s.labels) for m in registry.collect() for s in m.samples
    if s.name == "http_server_request_duration_seconds_count"
]
print(json.dumps({"opt_in": os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN"), "spans": spans, "series": series}))
"""

OLD_NAMES = {"http.method", "http.status_code", "http.target", "http.url", "http.scheme", "http.server_name"}


def _run(env: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = json_from_fresh_process(SCRIPT, env)
    return result


def test_setup_opts_in_to_stable_http_names_on_server_spans() -> None:
    """Without the variable, setup() opts in: the server span has the metric's attribute names
    and none of the old ones; the metric carries url.scheme, and error.type on the failure only."""
    result = _run({})
    assert result["opt_in"] == "http"
    ok = result["spans"]["GET /orders/{order_id}"]
    assert {k: ok[k] for k in ("http.request.method", "http.route", "http.response.status_code", "url.scheme")} == {
        "http.request.method": "GET",
        "http.route": "/orders/{order_id}",
        "http.response.status_code": 200,
        "url.scheme": "http",
    }
    assert set(ok) >= HTTP_SERVER_SPAN_ATTRIBUTES  # what the collector configs may rely on
    assert ok["url.path"] == "/orders/7"
    assert ok["url.query"] == "token=***"
    for attributes in result["spans"].values():
        assert not OLD_NAMES & set(attributes)
    # semconv: a status code went out, so error.type is that code, on the span and the metric
    assert result["spans"]["GET /boom"]["error.type"] == "500"
    assert sorted(result["series"], key=lambda s: s["http_route"]) == [
        {
            "http_request_method": "GET",
            "http_route": "/boom",
            "http_response_status_code": "500",
            "url_scheme": "http",
            "error_type": "500",
        },
        {
            "http_request_method": "GET",
            "http_route": "/orders/{order_id}",
            "http_response_status_code": "200",
            "url_scheme": "http",
            "error_type": "",
        },
    ]


def test_a_users_choice_is_kept() -> None:
    """A value the user set (``http/dup``: old and new names) is left as it is."""
    result = _run({"OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup"})
    assert result["opt_in"] == "http/dup"
    ok = result["spans"]["GET /orders/{order_id}"]
    assert (ok["http.method"], ok["http.request.method"]) == ("GET", "GET")
