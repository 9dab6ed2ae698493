"""Log-line cases: ``configure_logging()``'s JSON line beside natively configured structlog,
and a stdlib ``logging`` call beside the common structlog-through-stdlib set-up."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from bench.harness import Budget, Row, Settings, Stmt, time_statements
from bench.micro import _in_span


def _native_structlog() -> Any:
    """structlog as its documentation recommends for speed: orjson, BytesLogger, a filtering
    bound logger; level, ISO timestamp and contextvars, as a service would have them."""
    import orjson
    import structlog

    return structlog.wrap_logger(
        structlog.BytesLogger(Path(os.devnull).open("wb")),  # open for the process
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=True,
    )


def _processor_formatter_logger() -> logging.Logger:
    """The common set-up for stdlib records: a handler with structlog's ProcessorFormatter
    (level, logger name, ISO timestamp, JSONRenderer), on a logger of its own."""
    import structlog

    handler = logging.StreamHandler(Path(os.devnull).open("w"))  # noqa: SIM115 - open for the process
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    logger = logging.getLogger("bench.processor_formatter")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def logs(settings: Settings) -> list[Row]:
    """Case 9: one JSON log line, inside a recording span with a correlation ID bound."""
    import structlog

    from bench.harness import null_logs
    from telemetry import correlation
    from telemetry.testing import in_memory_tracer

    null_logs()
    provider, _ = in_memory_tracer()
    with correlation.bound("bench-correlation-id"):
        ctx = _in_span(provider.get_tracer("bench"))
    ns = {
        "native": _native_structlog(),
        "ours": structlog.get_logger("bench"),
        "pf": _processor_formatter_logger(),
        "stdlib": logging.getLogger("bench.stdlib"),
    }
    native = "native structlog line (orjson, BytesLogger, filtering bound logger)"
    ours = "structlog line through configure_logging() (span + correlation ID)"
    common = "stdlib logging call, structlog ProcessorFormatter (the common set-up)"
    stdlib = "stdlib logging call through configure_logging() (span + correlation ID)"
    stmts = [
        Stmt(native, "native.info('order.created', order_id=7, status='paid')", ctx),
        Stmt(ours, "ours.info('order.created', order_id=7, status='paid')", ctx),
        Stmt(common, "pf.info('order %s created', 7)", ctx),
        Stmt(stdlib, "stdlib.info('order %s created', 7)", ctx),
    ]
    times = time_statements(stmts, ns, settings)
    return [
        times.row("logs", native, unit="us"),
        times.row("logs", ours, native, Budget("<=", 1.5), unit="us"),
        times.row("logs", common, unit="us"),
        times.row("logs", stdlib, common, Budget("<=", 1.0), unit="us"),
    ]
