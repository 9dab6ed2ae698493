"""botocore and boto3 (S3 and the other AWS services): operations by outcome, duration, retries.

Usage::

    s3 = boto3.client("s3")
    instrument_client(s3)                  # this client
    instrument_session(boto3.Session())    # or every client the session creates from now on
    instrument_client(s3, client_spans=False)   # metrics only, no span per operation

Event hooks go on the client's (or session's) event emitter, each registered under a unique
id so a second call changes nothing: ``provide-client-params`` notes the start,
``before-call`` opens the operation's span, ``after-call`` classifies the HTTP answer,
``after-call-error`` the exception that left no answer.

One CLIENT span per operation (botocore's retries inside it), a child of the span current
when the call was made, named ``S3.PutObject`` with the AWS SDK semantic conventions:
``rpc.system=aws-api``, ``rpc.service`` (``S3``), ``rpc.method`` (``PutObject``),
``cloud.region``, ``server.address``/``server.port``, ``aws.s3.bucket``,
``aws.request_id``, ``http.response.status_code``; on failure ``error.type`` (the AWS error
code, ``SlowDown``, or the exception class, ``ConnectTimeoutError``) and status ERROR whose
description is that ``error.type``: never the error message, which can carry keys or
credentials, and never the object key. The operation's span event (a failure, a retried
success) goes on this span. opentelemetry-instrumentation-botocore is not used: it patches
every client of the process at once (no per-client ``instrument``/``uninstrument``), puts the
exception message in the span status and sets no ``error.type``.

One :class:`~telemetry.events.DependencyCallSucceeded` or
:class:`~telemetry.events.DependencyCallFailed` per operation feeds
``resilience_dependency_operations_total{dependency, operation, outcome}``,
``resilience_dependency_duration_seconds`` (botocore's own retries and backoff included) and
``resilience_dependency_client_retries_total``. ``dependency`` is the service id (``s3``),
``operation`` the API name (``PutObject``): bucket names and keys never become labels.

Outcomes: ``success`` (2xx); ``throttled`` (429 or a throttling code such as ``SlowDown``);
``server_error`` (other 5xx); ``client_error`` (other 4xx, e.g. ``NoSuchKey``, whose code is
the event's ``error.type``); ``timeout`` (connect or read timeout); ``connection_error``
(anything else that left no HTTP answer: refused, reset, DNS, proxy). A failure is counted
once, after botocore's retries, as the caller sees it. An operation started inside
OpenTelemetry's ``suppress_instrumentation()`` is not recorded.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any, Final

from telemetry.events.dependency import DependencyCallFailed, DependencyCallSucceeded
from telemetry.integrations.contract import Instrumented, check_telemetry, enabled, tracer_provider_for
from telemetry.labels import clean, error_type
from telemetry.recorder import record

__all__ = [
    "THROTTLING_CODES",
    "classify_response",
    "instrument_client",
    "instrument_session",
    "is_instrumented",
    "uninstrument_client",
    "uninstrument_session",
]

_ID: Final = "resilience-telemetry"
_STARTED: Final = "resilience_telemetry.started_at"
_SPAN: Final = "resilience_telemetry.span"
_BUCKET: Final = "resilience_telemetry.bucket"
_SCOPE: Final = "telemetry.integrations.botocore"
_EMITTERS: Final = Instrumented("botocore")
# botocore's own list (retries/standard.py) plus S3's SlowDown: these are load shedding, not faults.
THROTTLING_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


def classify_response(status: int, code: str | None) -> str:
    """The outcome of an operation that got an HTTP answer."""
    if status < 300:
        return "success"
    if status == 429 or (code is not None and code in THROTTLING_CODES):
        return "throttled"
    if status >= 500:
        return "server_error"
    return "client_error"


def _names(event_name: str) -> tuple[str, str]:
    # "after-call.s3.GetObject" -> ("s3", "GetObject")
    _, _, rest = event_name.partition(".")
    dependency, _, operation = rest.partition(".")
    return dependency, operation


def _retries(context: dict[str, Any]) -> int:
    attempt = context.get("retries", {}).get("attempt", 1)
    return max(int(attempt) - 1, 0)


def _on_start(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if enabled():
        context[_STARTED] = time.perf_counter()
        bucket = params.get("Bucket") if isinstance(params, dict) else None
        if isinstance(bucket, str):
            context[_BUCKET] = bucket


class _SpanStarter:
    """The ``before-call`` hook of one instrumented emitter: opens the operation's span.

    It starts after parameter validation and serialization, so an operation that never
    reaches the wire (a ``ParamValidationError``) leaves no span open; ``after-call`` and
    ``after-call-error`` end it. The span is not made current across the two hooks (a hook
    that never runs would leave it current); the events recorded at the end are.
    """

    __slots__ = ("tracer",)

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer

    def __call__(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        try:
            if _STARTED not in context:
                return
            from opentelemetry.trace import SpanKind

            service = str(model.service_model.service_id)
            attributes: dict[str, Any] = {
                "rpc.system": "aws-api",
                "rpc.service": service,
                "rpc.method": model.name,
            }
            region = context.get("client_region")
            if region:
                attributes["cloud.region"] = region
            url = urllib.parse.urlsplit(params.get("url") or "")
            if url.hostname:
                attributes["server.address"] = url.hostname
                attributes["server.port"] = url.port or (443 if url.scheme == "https" else 80)
            bucket = context.get(_BUCKET)
            if bucket:
                attributes["aws.s3.bucket"] = bucket
            name = f"{service}.{model.name}"
            context[_SPAN] = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        except Exception:  # noqa: S110 - telemetry never breaks the call
            pass


def _finish(context: dict[str, Any], event: DependencyCallSucceeded | DependencyCallFailed, request_id: Any) -> None:
    """Ends the operation's span (if it has one) and records ``event`` with that span current."""
    span = context.pop(_SPAN, None)
    if span is None or not span.is_recording():
        record(event)
        return
    from opentelemetry import trace

    try:
        if isinstance(request_id, str) and request_id:
            span.set_attribute("aws.request_id", request_id)
        if event.status_code is not None:
            span.set_attribute("http.response.status_code", event.status_code)
        if isinstance(event, DependencyCallFailed):
            span.set_attribute("error.type", event.error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, event.error))
        with trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            record(event)
    finally:
        span.end()


def _on_after_call(
    http_response: Any, parsed: dict[str, Any], context: dict[str, Any], event_name: str, **_: Any
) -> None:
    try:
        started = context.pop(_STARTED, None)
        if started is None:
            return
        dependency, operation = _names(event_name)
        status = int(http_response.status_code)
        code = (parsed.get("Error") or {}).get("Code")
        outcome = classify_response(status, code)
        duration = time.perf_counter() - started
        if outcome == "success":
            event: DependencyCallSucceeded | DependencyCallFailed = DependencyCallSucceeded(
                dependency=dependency,
                operation=operation,
                duration=duration,
                retries=_retries(context),
                status_code=status,
            )
        else:
            event = DependencyCallFailed(
                dependency=dependency,
                operation=operation,
                duration=duration,
                retries=_retries(context),
                status_code=status,
                failure=outcome,
                error=clean(code) if code else str(status),
            )
        request_id = (parsed.get("ResponseMetadata") or {}).get("RequestId")
    except Exception:
        return
    _finish(context, event, request_id)


def _on_after_call_error(exception: BaseException, context: dict[str, Any], event_name: str, **_: Any) -> None:
    try:
        started = context.pop(_STARTED, None)
        if started is None:
            return
        from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

        dependency, operation = _names(event_name)
        timed_out = isinstance(exception, (ConnectTimeoutError, ReadTimeoutError, TimeoutError))
        event = DependencyCallFailed(
            dependency=dependency,
            operation=operation,
            duration=time.perf_counter() - started,
            retries=_retries(context),
            failure="timeout" if timed_out else "connection_error",
            error=error_type(exception),
        )
    except Exception:
        return
    _finish(context, event, None)


_HOOKS: Final = (
    ("provide-client-params", _on_start, f"{_ID}.start", True),
    ("after-call", _on_after_call, f"{_ID}.after-call", False),
    ("after-call-error", _on_after_call_error, f"{_ID}.after-call-error", False),
)
_SPAN_HOOK: Final = ("before-call", f"{_ID}.span")


def _register(emitter: Any, *, client_spans: bool, tracer_provider: Any) -> None:
    if emitter in _EMITTERS:
        return  # a second call changes nothing, whatever it passes
    for event_name, handler, unique_id, first in _HOOKS:
        register = emitter.register_first if first else emitter.register
        register(event_name, handler, unique_id=unique_id)
    if client_spans:
        from opentelemetry import trace

        tracer = trace.get_tracer(_SCOPE, None, tracer_provider)
        emitter.register_first(_SPAN_HOOK[0], _SpanStarter(tracer), unique_id=_SPAN_HOOK[1])
    _EMITTERS.add(emitter, lambda: _unregister(emitter))


def _unregister(emitter: Any) -> None:
    for event_name, _, unique_id, _first in _HOOKS:
        emitter.unregister(event_name, unique_id=unique_id)
    emitter.unregister(_SPAN_HOOK[0], unique_id=_SPAN_HOOK[1])


def _emitter(target: Any) -> Any:
    meta = getattr(target, "meta", None)
    if meta is not None and hasattr(meta, "events"):
        return meta.events  # a client
    events = getattr(target, "events", None)  # a boto3 Session
    return events if events is not None else target.get_component("event_emitter")  # a botocore Session


def is_instrumented(target: Any) -> bool:
    """Whether :func:`instrument_client` / :func:`instrument_session` instrumented ``target``
    itself (a client created by an instrumented session has the hooks but is not listed)."""
    return _emitter(target) in _EMITTERS


def instrument_client(
    client: Any, *, telemetry: object = None, client_spans: bool = True, tracer_provider: Any = None
) -> Any:
    """Record every operation of this botocore/boto3 client and return it; a second call adds nothing.

    Args:
        client: a botocore or boto3 client.
        telemetry: the current set-up, or ``None``.
        client_spans: also make one CLIENT span per operation (see the module docs);
            ``False`` keeps the metrics and log lines only.
        tracer_provider: where the spans go; defaults to the set-up's, else the global one.
    """
    check_telemetry(telemetry)
    _register(
        _emitter(client), client_spans=client_spans, tracer_provider=tracer_provider_for(tracer_provider, telemetry)
    )
    return client


def instrument_session(
    session: Any, *, telemetry: object = None, client_spans: bool = True, tracer_provider: Any = None
) -> Any:
    """Record the operations of every client ``session`` (boto3 or botocore) creates from now on.

    Returns ``session``. Clients copy the session's hooks when they are created; earlier
    clients are unaffected. ``client_spans`` and ``tracer_provider`` as for
    :func:`instrument_client`.
    """
    check_telemetry(telemetry)
    _register(
        _emitter(session), client_spans=client_spans, tracer_provider=tracer_provider_for(tracer_provider, telemetry)
    )
    return session


def uninstrument_client(client: Any) -> Any:
    """Remove the hooks from this client and return it; a client never instrumented is left as it is."""
    emitter = _emitter(client)
    if not _EMITTERS.remove(emitter):
        _unregister(emitter)  # hooks copied from an instrumented session
    return client


def uninstrument_session(session: Any) -> Any:
    """Remove the hooks from ``session`` and return it; clients it created earlier keep theirs."""
    return uninstrument_client(session)
