"""Attribute names: the project's own under one namespace, the rest real semantic conventions."""

from __future__ import annotations

import importlib
import pkgutil

from telemetry import attributes


def _semconv_names() -> set[str]:
    """Every attribute name the opentelemetry-semantic-conventions package defines."""
    import opentelemetry.semconv._incubating.attributes as incubating
    import opentelemetry.semconv.attributes as stable

    names: set[str] = set()
    for package in (stable, incubating):
        for module in pkgutil.iter_modules(package.__path__):
            found = importlib.import_module(f"{package.__name__}.{module.name}")
            names |= {value for key, value in vars(found).items() if key.isupper() and isinstance(value, str)}
    return names


def test_every_name_is_a_semconv_attribute_or_in_the_project_namespace() -> None:
    """Nothing is invented inside a semantic-convention namespace (the old `messaging.link`,
    `db.pool.size`): a name is either defined by the conventions or starts with `resilience.`."""
    names = attributes.emitted()
    assert attributes.project_names() == {name for name in names if name.startswith("resilience.")}
    assert names - attributes.project_names() - _semconv_names() == set()
    assert attributes.project_names() & _semconv_names() == set()


def test_span_level_names_and_trace_filters_are_emitted_names() -> None:
    """The span-level set and every TraceQL filter name come from the same module."""
    assert attributes.emitted() >= attributes.SPAN_ATTRIBUTES
    for selector in attributes.TRACEQL_BY_LABEL.values():
        scope, _, name = selector.partition(".")
        assert scope in {"span", "event"}
        assert name in (attributes.SPAN_ATTRIBUTES if scope == "span" else attributes.emitted())


def test_empty_values_are_left_out() -> None:
    """`present` drops None and "" and keeps every other value, falsy ones included."""
    assert attributes.present({"a": "", "b": None, "c": 0, "d": False, "e": "x"}) == {"c": 0, "d": False, "e": "x"}


def test_an_unknown_message_id_and_error_type_are_not_sent_as_empty_strings() -> None:
    """A dead-lettered message without an ID, rejected by the broker (no exception): the span
    event and the log line carry neither `messaging.message.id` nor `error.type`."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from prometheus_client import CollectorRegistry
    from structlog.testing import capture_logs

    from telemetry.events import MessageDeadLettered
    from telemetry.metrics import Instruments
    from telemetry.recorder import Recorder

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    recorder = Recorder(Instruments(CollectorRegistry()))
    with capture_logs() as logs, provider.get_tracer("t").start_as_current_span("process orders"):
        recorder.record(MessageDeadLettered(queue="orders", message_id=None, reason="expired", by="broker", deaths=2))
    [span] = exporter.get_finished_spans()
    expected = {
        "messaging.destination.name": "orders",
        "resilience.dlq.reason": "expired",
        "resilience.dlq.by": "broker",
        "resilience.dlq.deaths": 2,
        "resilience.consumer.attempt": 0,
    }
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [("telemetry.dlq.dead_lettered", expected)]
    assert logs == [{**expected, "event": "telemetry.dlq.dead_lettered", "log_level": "error"}]
