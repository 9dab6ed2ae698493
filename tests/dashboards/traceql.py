"""Spans as an OTLP receiver keeps them, and the TraceQL subset the alerts' trace links use.

The alerts' trace-search links are ``{ cond && cond ... }`` with conditions ``scope.attr = "v"``
(``resource.``, ``span.``, ``event.``) and the intrinsics ``status = error`` and
``duration > 0.5s``. TraceQL scopes are separate: a ``span.`` condition reads only the span's own
attributes, an ``event.`` condition is met by any one of the span's events (Tempo docs, "Trace
structure and TraceQL"). :func:`matches` evaluates that subset on received spans, so a test can
prove a link finds the spans a real run emitted, without running Tempo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OtlpSpans", "Span", "conditions", "matches"]

_CONDITION = re.compile(r'^(resource|span|event)\.([\w.]+) = "(.*)"$|^status = (error|ok)$|^duration > ([\d.]+)s$')


@dataclass
class Span:
    name: str
    resource: dict[str, Any]
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    error: bool
    duration: float


@dataclass
class OtlpSpans:
    """The ``on_post`` of a loopback OTLP/HTTP receiver: keeps every span with its resource and
    its events' attributes (logs and metrics are accepted and dropped)."""

    spans: list[Span] = field(default_factory=list)

    def __call__(self, path: str, body: bytes) -> None:
        if path != "/v1/traces":
            return
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            res = {a.key: _value(a.value) for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                self.spans.extend(
                    Span(
                        name=span.name,
                        resource=res,
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        events=[{a.key: _value(a.value) for a in event.attributes} for event in span.events],
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                        duration=(span.end_time_unix_nano - span.start_time_unix_nano) / 1e9,
                    )
                    for span in scope.spans
                )


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def conditions(query: str) -> list[str]:
    """The ``&&``-joined conditions of ``{ ... }``; anything outside the subset fails loudly."""
    body = query.strip()
    assert body.startswith("{") and body.endswith("}"), query
    parts = [part.strip() for part in body[1:-1].split("&&")]
    for part in parts:
        assert _CONDITION.match(part), (part, query)
    return parts


def _holds(part: str, span: Span) -> bool:
    match = _CONDITION.match(part)
    assert match is not None
    scope, key, wanted, status, slower = match.groups()
    if status is not None:
        return span.error is (status == "error")
    if slower is not None:
        return span.duration > float(slower)
    if scope == "event":
        return any(str(event.get(key)) == wanted for event in span.events)
    return str((span.resource if scope == "resource" else span.attributes).get(key)) == wanted


def matches(query: str, spans: list[Span]) -> list[Span]:
    """The spans ``query`` selects."""
    parts = conditions(query)
    return [span for span in spans if all(_holds(part, span) for part in parts)]
