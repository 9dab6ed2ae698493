"""Processes the HTTP cases talk to: the FastAPI app in several variants, and an OTLP sink.

``python -m bench.apps serve VARIANT PORT`` serves ``GET /orders/{order_id}`` (hello world) and
``GET /db/{order_id}`` (one async SQLAlchemy query on PostgreSQL through asyncpg) with uvicorn
(h11, asyncio, one worker):

- ``bare``: no instrumentation;
- ``otel``: only OpenTelemetry's FastAPI instrumentation (plus its SQLAlchemy instrumentation,
  query spans on, when the database endpoint is enabled);
- ``hand``: what a user would assemble by hand: ``otel`` plus
  prometheus-fastapi-instrumentator and asgi-correlation-id;
- ``full``: :func:`telemetry.instrument` (with ``engine=``, and the same query spans).

The database endpoint exists when ``BENCH_DATABASE_URL`` is set. Instrumented variants record
spans with an SDK tracer provider; spans are exported only when ``OTEL_EXPORTER_OTLP_ENDPOINT``
is set (the outage case), through the batch processor :func:`telemetry.setup` installs.
``python -m bench.apps sink PORT`` accepts OTLP/HTTP posts and answers 200.
"""

from __future__ import annotations

import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

VARIANTS: Final = ("bare", "otel", "hand", "full")


def _otel(app: Any, engine: Any) -> None:
    from opentelemetry import trace
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.trace import TracerProvider

    trace.set_tracer_provider(TracerProvider())
    # The same OTel configuration our set-up uses (no ASGI receive/send sub-spans), so the
    # full variant's difference is our own layer, not a cheaper OTel configuration.
    FastAPIInstrumentor.instrument_app(app, exclude_spans=["receive", "send"])
    _query_spans(engine)


def _query_spans(engine: Any) -> None:
    """Query spans, in every instrumented variant alike (like for like)."""
    if engine is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # skip_dep_check: the instrumentor's own version pin refuses SQLAlchemy 2.1 otherwise.
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine, skip_dep_check=True)


def build_app(variant: str) -> Any:
    from fastapi import FastAPI

    app = FastAPI()
    url = os.environ.get("BENCH_DATABASE_URL")
    engine = None

    @app.get("/orders/{order_id}")
    async def read_order(order_id: int) -> dict[str, object]:
        return {"id": order_id, "status": "shipped"}

    if url:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url, pool_size=16, max_overflow=0)
        query = text("SELECT CAST(:id AS integer) AS id, 'shipped' AS status")

        @app.get("/db/{order_id}")
        async def read_from_db(order_id: int) -> dict[str, object]:
            async with engine.connect() as conn:
                row = (await conn.execute(query, {"id": order_id})).one()
            return {"id": row.id, "status": row.status}

    if variant == "otel":
        _otel(app, engine)
    elif variant == "hand":
        from asgi_correlation_id import CorrelationIdMiddleware
        from prometheus_fastapi_instrumentator import Instrumentator

        _otel(app, engine)
        Instrumentator().instrument(app)
        app.add_middleware(CorrelationIdMiddleware)
    elif variant == "full":
        import telemetry

        telemetry.instrument(app, service_name="bench", engine=engine)
        _query_spans(engine)
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
