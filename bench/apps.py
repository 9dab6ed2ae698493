"""Processes the HTTP cases talk to: the FastAPI app in three variants, and an OTLP sink.

``python -m bench.apps serve VARIANT PORT`` serves ``GET /orders/{order_id}`` with uvicorn (h11,
asyncio, one worker): ``bare`` has no instrumentation, ``otel`` only OpenTelemetry's FastAPI
instrumentation, ``full`` :func:`telemetry.instrument`. Both instrumented variants record
spans with an SDK tracer provider; spans are exported only when ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set (the outage case), through the batch processor :func:`telemetry.setup` installs.
``python -m bench.apps sink PORT`` accepts OTLP/HTTP posts and answers 200.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

VARIANTS: Final = ("bare", "otel", "full")


def build_app(variant: str) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/orders/{order_id}")
    async def read_order(order_id: int) -> dict[str, object]:
        return {"id": order_id, "status": "shipped"}

    if variant == "otel":
        from opentelemetry import trace
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.trace import TracerProvider

        trace.set_tracer_provider(TracerProvider())
        # The same OTel configuration our set-up uses (no ASGI receive/send sub-spans), so the
        # full variant's difference is our own layer, not a cheaper OTel configuration.
        FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])
    elif variant == "full":
        import telemetry

        telemetry.instrument(app, service_name="bench")
    elif variant != "bare":
        msg = f"unknown variant {variant!r}; one of {VARIANTS}"
        raise ValueError(msg)
    return app


def serve(variant: str, port: int) -> None:
    import uvicorn

    config = uvicorn.Config(
        build_app(variant),
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="h11",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    uvicorn.Server(config).run()


class _Accept(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        del format, args


def sink(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _Accept).serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        sink(int(sys.argv[2]))
