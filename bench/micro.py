"""In-process cases: the metric sink, breaker, retry and pool hot paths, each against its bare twin."""

from __future__ import annotations

import contextvars
import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench.harness import Budget, Row, Settings, Stmt, Timings, null_logs, skipped, time_statements
from telemetry import catalog
from telemetry.events import Event, RetryScheduled

if TYPE_CHECKING:
    from telemetry import Telemetry
    from telemetry.metrics import Instruments

RETRY = "orders_db"
OUTCOME = "success_first_attempt"


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCounted(Event):
    """The smallest possible event: one bound counter increment, for the recorder's own cost."""

    name: ClassVar[str] = "bench.call_counted"

    def to_metrics(self, m: Instruments) -> None:
        m.child(catalog.RETRY_CALLS, RETRY, OUTCOME).inc()


def _in_span(tracer: Any) -> contextvars.Context:
    """A context in which a recording span is current, for statements timed inside a request."""
    from opentelemetry import context, trace

    span = tracer.start_span("bench")
    ctx = contextvars.copy_context()
    ctx.run(context.attach, trace.set_span_in_context(span))
    return ctx


def _ratio_rows(case: str, times: Timings, baseline: str, budgets: dict[str, Budget | None]) -> list[Row]:
    return [times.row(case, baseline)] + [times.row(case, label, baseline, budget) for label, budget in budgets.items()]


def metric_sink(settings: Settings) -> list[Row]:
    """Case 1: one bound counter increment and one histogram observation, three ways."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from prometheus_client import CollectorRegistry, Counter, Histogram

    import telemetry
    from telemetry.metrics import Instruments
    from telemetry.recorder import MetricsSink, Recorder, set_recorder
    from telemetry.testing import in_memory_tracer

    bare = CollectorRegistry()
    counter = Counter("bench_calls", "Calls.", ["retry_name", "outcome"], registry=bare).labels(RETRY, OUTCOME)
    histogram = Histogram(
        "bench_backoff_seconds", "Backoff.", ["retry_name"], registry=bare, buckets=catalog.RETRY_BACKOFF.buckets or ()
    ).labels(RETRY)
    m = Instruments(CollectorRegistry())
    set_recorder(Recorder(m, [MetricsSink(m)]))
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("bench")
    provider, _ = in_memory_tracer()
    ns = {
        "counter": counter,
        "histogram": histogram,
        "m": m,
        "C": catalog.RETRY_CALLS,
        "H": catalog.RETRY_BACKOFF,
        "record": telemetry.record,
        "event": CallCounted(),
        "scheduled": RetryScheduled(retry_name=RETRY, attempt=1, delay=0.1, caused_by=TimeoutError()),
        "otel_counter": meter.create_counter("bench.calls"),
        "otel_histogram": meter.create_histogram("bench.backoff", unit="s"),
        "attrs": {"retry.name": RETRY, "outcome": OUTCOME},
        "hattrs": {"retry.name": RETRY},
    }
    bare_inc = "prometheus_client bound child .inc()"
    bare_obs = "prometheus_client bound child .observe()"
    stmts = [
        Stmt(bare_inc, "counter.inc()"),
        Stmt("Instruments.child(spec, ...).inc()", f"m.child(C, {RETRY!r}, {OUTCOME!r}).inc()"),
        Stmt("m.inc(spec, ...) (exemplar lookup, no span)", f"m.inc(C, {RETRY!r}, {OUTCOME!r})"),
        Stmt(
            "m.inc(spec, ...) in a recording span (exemplar attached)",
            f"m.inc(C, {RETRY!r}, {OUTCOME!r})",
            _in_span(provider.get_tracer("bench")),
        ),
        Stmt("telemetry.record(event), metrics sink, one bound inc", "record(event)"),
        Stmt("telemetry.record(RetryScheduled), metrics sink", "record(scheduled)"),
        Stmt("OpenTelemetry SDK counter.add(1, attributes)", "otel_counter.add(1, attrs)"),
        Stmt(bare_obs, "histogram.observe(0.2)"),
        Stmt("Instruments.child(spec, ...).observe()", f"m.child(H, {RETRY!r}).observe(0.2)"),
        Stmt("m.observe(spec, value, ...) (no span)", f"m.observe(H, 0.2, {RETRY!r})"),
        Stmt("OpenTelemetry SDK histogram.record(v, attributes)", "otel_histogram.record(0.2, hattrs)"),
    ]
    times = time_statements(stmts, ns, settings)
    two_x = Budget("<=", 2.0)
    counters = _ratio_rows(
        "metric_sink",
        times,
        bare_inc,
        {
            stmts[1].label: two_x,
            stmts[2].label: two_x,
            stmts[3].label: None,
            stmts[4].label: two_x,
            stmts[5].label: None,
            stmts[6].label: None,
        },
    )
    histograms = _ratio_rows("metric_sink", times, bare_obs, {s.label: None for s in stmts[8:]})
    return counters + histograms


def _integration(case: str, module: str, name: str) -> tuple[Any, Row | None]:
    """Import ``telemetry.integrations.<module>``, or a skip row saying it is not available."""
    import importlib

    try:
        return importlib.import_module(f"telemetry.integrations.{module}"), None
    except ImportError as exc:
        return None, skipped(case, name, f"integration not available: {exc}")


def _ok() -> int:
    """The protected call: returns at once, so the wrapper's own cost is what is measured."""
    return 42


def _production_setup() -> Telemetry:
    """``telemetry.setup`` as a service runs it: fresh registry, spans recorded, JSON logs to null."""
    from prometheus_client import CollectorRegistry

    import telemetry

    null_logs()
    return telemetry.setup(service_name="bench", registry=CollectorRegistry())


def retry(settings: Settings) -> list[Row]:
    """Case 3: one scheduled-retry event end to end, and tenacity's first-attempt success."""
    import structlog
    from opentelemetry import trace
    from prometheus_client import CollectorRegistry, Counter

    from telemetry import record
    from telemetry.recorder import LogSink, MetricsSink, Recorder, TraceSink
    from telemetry.testing import in_memory_tracer

    m = _production_setup().instruments
    quiet = Recorder(m, [MetricsSink(m), TraceSink(), LogSink({RetryScheduled.name: "off"})])
    provider, _ = in_memory_tracer()
    span_ctx = _in_span(provider.get_tracer("bench"))
    bare = Counter("bench_scheduled", "Scheduled.", ["retry_name", "error_type"], registry=CollectorRegistry())
    ns: dict[str, Any] = {
        "record": record,
        "quiet": quiet,
        "RetryScheduled": RetryScheduled,
        "cause": TimeoutError("upstream timed out"),
        "counter": bare.labels(RETRY, "TimeoutError"),
        "trace": trace,
        "log": structlog.get_logger("bench"),
        "attrs": {
            "resilience.retry.name": RETRY,
            "resilience.retry.attempt": 1,
            "resilience.retry.delay_s": 0.2,
            "error.type": "TimeoutError",
        },
        "ok": _ok,
    }
    from bench.logs import _native_structlog

    ns["native"] = _native_structlog()
    by_hand = "by hand: bound inc + span.add_event + structlog JSON line"
    native = "native structlog line with the event's fields (orjson, BytesLogger)"
    ours = "telemetry.record(RetryScheduled(...)): metric + span event + JSON log line"
    no_log = "the same with its log line off (log_levels={...: 'off'})"
    event = f"RetryScheduled(retry_name={RETRY!r}, attempt=1, delay=0.2, caused_by=cause)"
    stmts = [
        Stmt(
            by_hand,
            "counter.inc(); trace.get_current_span().add_event('retry', attrs); log.info('retry', **attrs)",
            span_ctx,
        ),
        Stmt(native, "native.info('telemetry.retry.scheduled', **attrs)", span_ctx),
        Stmt(ours, f"record({event})", span_ctx),
        Stmt(no_log, f"quiet.record({event})", span_ctx),
    ]
    module, missing = _integration("retry", "tenacity", "tenacity first-attempt success, instrumented")
    first_bare, first_ours = "tenacity first-attempt success, bare", "tenacity first-attempt success, instrumented"
    if module is not None:
        from tenacity import Retrying, stop_after_attempt, wait_none

        ns["bare"] = Retrying(stop=stop_after_attempt(3), wait=wait_none())
        ns["ours"] = module.instrument_retrying(Retrying(stop=stop_after_attempt(3), wait=wait_none()), name=RETRY)
        stmts += [Stmt(first_bare, "bare(ok)"), Stmt(first_ours, "ours(ok)")]
    times = time_statements(stmts, ns, settings)
    rows = [
        times.row("retry", by_hand, unit="us"),
        times.row("retry", ours, by_hand, Budget("<=", 30.0, on="value"), unit="us"),
        times.row("retry", no_log, by_hand, Budget("<=", 10.0, on="value"), unit="us"),
        times.row("retry", native, unit="us"),
        dataclasses.replace(
            times.row("retry", ours, native, Budget("<=", 3.0), unit="us"), name=f"{ours}, vs the line"
        ),
    ]
    if missing is not None:
        return [*rows, missing]
    return rows + _ratio_rows("retry", times, first_bare, {first_ours: Budget("<=", 1.3)})


def breaker(settings: Settings) -> list[Row]:
    """Case 2: pybreaker closed-state call, bare vs instrumented."""
    module, missing = _integration("breaker", "pybreaker", "pybreaker closed-state call, instrumented")
    if missing is not None:
        return [missing]
    import pybreaker

    _production_setup()
    ns = {
        "bare": pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30, name="bench_bare"),
        "ours": module.instrument_breaker(pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30, name="payments")),
        "ok": _ok,
    }
    bare, ours = "pybreaker closed-state call, bare", "pybreaker closed-state call, instrument_breaker(cb)"
    times = time_statements([Stmt(bare, "bare.call(ok)"), Stmt(ours, "ours.call(ok)")], ns, settings)
    return _ratio_rows("breaker", times, bare, {ours: Budget("<=", 1.5)})


def _select_one(engine: Any) -> Any:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text("SELECT 1")).scalar()


def pool(settings: Settings) -> list[Row]:
    """Case 4: ``SELECT 1`` and a checkout+checkin pair through SQLite ``QueuePool`` engines.

    Like for like: ``instrument_engine`` with its query spans against an engine traced by
    OpenTelemetry's ``SQLAlchemyInstrumentor`` alone (same spans, to the same provider), and
    with ``client_spans=False`` (pool metrics only) against a bare engine. An in-process SQLite
    ``SELECT 1`` takes tens of microseconds, so these are the ratios' worst case: on a network
    database the same microseconds are a smaller share.
    """
    module, missing = _integration("pool", "sqlalchemy", "SQLite QueuePool SELECT 1, instrumented")
    if missing is not None:
        return [missing]
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from sqlalchemy import create_engine
    from sqlalchemy.pool import QueuePool

    provider = _production_setup().tracer_provider
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"

        def engine() -> Any:
            return create_engine(url, poolclass=QueuePool, pool_size=5, max_overflow=0)

        bare, otel, instrumented, metrics_only = engine(), engine(), engine(), engine()
        module.instrument_engine(instrumented, pool_name="bench")
        module.instrument_engine(metrics_only, pool_name="bench_metrics", client_spans=False)
        ns = {"select_one": _select_one, "bare": bare, "otel": otel, "ours": instrumented, "metrics": metrics_only}
        select_bare, select_otel = "SELECT 1, bare engine", "SELECT 1, SQLAlchemyInstrumentor only (query spans)"
        select_ours = "SELECT 1, instrument_engine(engine) (query spans + pool metrics)"
        select_metrics = "SELECT 1, instrument_engine(engine, client_spans=False)"
        pair_bare, pair_ours = "checkout+checkin, bare pool", "checkout+checkin, instrumented pool"
        # first without the instrumentor: it also wraps Engine.connect of every engine
        times = time_statements(
            [
                Stmt(select_bare, "select_one(bare)"),
                Stmt(select_metrics, "select_one(metrics)"),
                Stmt(pair_bare, "bare.pool.connect().close()"),
                Stmt(pair_ours, "metrics.pool.connect().close()"),
            ],
            ns,
            settings,
        )
        instrumentor = SQLAlchemyInstrumentor()
        instrumentor.instrument(engine=otel, tracer_provider=provider, skip_dep_check=True)
        try:
            traced = time_statements(
                [Stmt(select_otel, "select_one(otel)"), Stmt(select_ours, "select_one(ours)")], ns, settings
            )
        finally:
            instrumentor.uninstrument()
            for item in (bare, otel, instrumented, metrics_only):
                item.dispose()
    return [
        *_ratio_rows("pool", traced, select_otel, {select_ours: Budget("<=", 1.10)}),
        *_ratio_rows("pool", times, select_bare, {select_metrics: Budget("<=", 1.10)}),
        *_ratio_rows("pool", times, pair_bare, {pair_ours: None}),
    ]


def _same_series(m: Instruments) -> Any:
    """A plain prometheus-client registry with the same families and children as ``m``'s."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    from telemetry.catalog import Kind

    plain = CollectorRegistry()
    metrics: dict[Any, Any] = {}
    for spec in catalog.CATALOG:
        if spec.scrape_time:
            continue
        if spec.kind is Kind.COUNTER:
            metrics[spec] = Counter(spec.prom, spec.description, spec.label_names, registry=plain)
        elif spec.kind is Kind.HISTOGRAM:
            buckets = spec.buckets or Histogram.DEFAULT_BUCKETS
            metrics[spec] = Histogram(spec.prom, spec.description, spec.label_names, registry=plain, buckets=buckets)
        else:
            metrics[spec] = Gauge(spec.prom, spec.description, spec.label_names, registry=plain)
    for spec, values in list(m._children):
        child = metrics[spec].labels(*values) if values else metrics[spec]
        if spec.kind is Kind.HISTOGRAM:
            child.observe(0.2)
        elif spec.kind is Kind.COUNTER:
            child.inc()
        else:
            child.set(1)
    return plain


def exposition(settings: Settings) -> list[Row]:
    """Case 11: rendering ``/metrics`` (text and OpenMetrics) vs plain prometheus-client with
    the same series."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

    from telemetry.catalog import Kind
    from telemetry.exposition import render
    from telemetry.metrics import Instruments

    m = Instruments(CollectorRegistry())
    for spec in catalog.CATALOG:  # two series of every event-driven family
        if spec.scrape_time:
            continue
        for variant in ("a", "b"):
            values = [label.values[0] if label.values else f"bench_{variant}" for label in spec.labels]
            child = m.child(spec, *values)
            if spec.kind is Kind.HISTOGRAM:
                child.observe(0.2)
            elif spec.kind is Kind.COUNTER:
                child.inc()
            else:
                child.set(1)
    ns = {
        "render": render,
        "ours": m.registry,
        "plain": _same_series(m),
        "text": generate_latest,
        "om": openmetrics_latest,
        "OM": "application/openmetrics-text; version=1.0.0",
    }
    plain_text, ours_text = "prometheus_client generate_latest (text)", "telemetry /metrics render (text)"
    plain_om, ours_om = "prometheus_client OpenMetrics generate_latest", "telemetry /metrics render (OpenMetrics)"
    stmts = [
        Stmt(plain_text, "text(plain)"),
        Stmt(ours_text, "render(ours, None)"),
        Stmt(plain_om, "om(plain)"),
        Stmt(ours_om, "render(ours, OM)"),
    ]
    times = time_statements(stmts, ns, settings)
    return [
        *_ratio_rows("exposition", times, plain_text, {ours_text: Budget("<=", 1.05)}),
        *_ratio_rows("exposition", times, plain_om, {ours_om: Budget("<=", 1.05)}),
    ]
