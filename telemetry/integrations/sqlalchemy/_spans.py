"""Query spans for one engine, made by opentelemetry-instrumentation-sqlalchemy's ``EngineTracer``.

``SQLAlchemyInstrumentor().instrument(engine=...)`` is the documented entry point, but it is
process-wide and once-only: it wraps ``create_engine`` (every engine made later is traced, asked
for or not), a second call for another engine is a no-op, ``uninstrument()`` removes every
engine's listeners at once, and on a SQLAlchemy newer than its declared range (2.1) it does
nothing at all unless given ``skip_dep_check=True``. ``EngineTracer`` is the per-engine part
behind it, with no version check: the same span names and attributes, on this engine only,
undone for this engine only.

Kept from it: ``before_cursor_execute``/``after_cursor_execute`` (one CLIENT span per statement,
``db.system``, ``db.name``, ``db.statement`` with placeholders, never parameter values;
``OTEL_SEMCONV_STABILITY_OPT_IN=database`` gives the stable names). Replaced: its error
listener, whose status description is the exception message (which can carry data or
credentials); ours sets ``error.type`` (the driver's exception class) and, where the driver
has one, ``db.response.status_code`` (PostgreSQL's SQLSTATE). Dropped: its pool listeners,
which feed the deprecated ``db.client.connections.usage`` metric beside ours and would cost an
event dispatch on every checkout and checkin.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Final

from telemetry.integrations.contract import require
from telemetry.labels import error_type

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Engine

__all__ = ["SCOPE", "add_query_spans", "has_query_spans"]

#: the instrumentation scope of the spans: contrib's, since its code makes them
SCOPE: Final = "opentelemetry.instrumentation.sqlalchemy"
_QUERY_EVENTS: Final = frozenset({"before_cursor_execute", "after_cursor_execute"})


def _contrib() -> Any:
    return require("opentelemetry.instrumentation.sqlalchemy.engine", "sqlalchemy", what="query spans")


def has_query_spans(engine: Engine) -> bool:
    """Whether contrib already traces ``engine``'s statements (its instrumentor or ours)."""
    tracer_class = _contrib().EngineTracer
    return any(
        ref() is engine and identifier == "before_cursor_execute"
        for ref, identifier, _ in tracer_class._remove_event_listener_params
    )


def _driver_error(error: BaseException) -> BaseException:
    """The driver's own exception: SQLAlchemy's asyncio adapters (``AsyncAdapt_asyncpg_dbapi.
    ProgrammingError``) raise from it, and its class (``UndefinedTableError``) is what tells."""
    cause = error.__cause__
    if type(error).__qualname__.startswith("AsyncAdapt_") and cause is not None:
        return cause
    return error


def _on_error(context: Any) -> None:
    """Ends the statement's span as failed: ``error.type``, SQLSTATE, never the message."""
    try:
        execution = context.execution_context
        span = getattr(execution, "_otel_span", None) if execution is not None else None
        if span is None:
            return
        execution._otel_span = None  # ended here; contrib's after-execute never sees it again
        from opentelemetry.trace import Status, StatusCode

        error = context.original_exception
        kind = error_type(_driver_error(error))
        if span.is_recording():
            span.set_attribute("error.type", kind)
            sqlstate = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
            if isinstance(sqlstate, str) and sqlstate:
                span.set_attribute("db.response.status_code", sqlstate)
            span.set_status(Status(StatusCode.ERROR, kind))
        span.end()
    except Exception:  # noqa: S110 - telemetry never changes how a failed statement fails
        pass


def add_query_spans(engine: Engine, tracer_provider: Any = None) -> Callable[[], None]:
    """Trace ``engine``'s statements (a sync ``Engine``) and return the function that stops it."""
    contrib = _contrib()
    from opentelemetry import metrics, trace
    from opentelemetry.instrumentation.sqlalchemy.version import __version__

    event = require("sqlalchemy", "sqlalchemy").event
    tracer_class = contrib.EngineTracer
    params: list[Any] = tracer_class._remove_event_listener_params
    known = {id(entry) for entry in params}
    tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
    unused = metrics.NoOpMeterProvider().get_meter(SCOPE).create_up_down_counter("unused")
    tracer_class(tracer, engine, unused)
    added = [entry for entry in params if id(entry) not in known and entry[0]() is engine]
    kept: list[tuple[Any, str, Any]] = []
    for entry in added:
        _, identifier, listener = entry
        if identifier not in _QUERY_EVENTS:
            event.remove(engine, identifier, listener)
            params.remove(entry)
        else:
            kept.append(entry)
    event.listen(engine, "handle_error", _on_error)

    def undo() -> None:
        for entry in kept:
            _, identifier, listener = entry
            with contextlib.suppress(ValueError):
                params.remove(entry)
            if event.contains(engine, identifier, listener):  # contrib's uninstrument() may have removed it
                event.remove(engine, identifier, listener)
        if event.contains(engine, "handle_error", _on_error):
            event.remove(engine, "handle_error", _on_error)

    return undo
