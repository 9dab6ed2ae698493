"""botocore and boto3 (S3 and the other AWS services): operations by outcome, duration, retries.

Usage::

    s3 = boto3.client("s3")
    instrument_client(s3)                  # this client
    instrument_session(boto3.Session())    # or every client the session creates from now on

Three event hooks go on the client's (or session's) event emitter, each registered under a
unique id so a second call changes nothing: ``provide-client-params`` notes the start,
``after-call`` classifies the HTTP answer, ``after-call-error`` the exception that left no
answer. One :class:`~telemetry.events.DependencyCallSucceeded` or
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
from typing import Any, Final

from telemetry.events.dependency import DependencyCallFailed, DependencyCallSucceeded
from telemetry.integrations.contract import Instrumented, check_telemetry, enabled
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


def _on_start(context: dict[str, Any], **_: Any) -> None:
    if enabled():
        context[_STARTED] = time.perf_counter()


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
    except Exception:
        return
    record(event)


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
    record(event)


_HOOKS: Final = (
    ("provide-client-params", _on_start, f"{_ID}.start", True),
    ("after-call", _on_after_call, f"{_ID}.after-call", False),
    ("after-call-error", _on_after_call_error, f"{_ID}.after-call-error", False),
)


def _register(emitter: Any) -> None:
    for event_name, handler, unique_id, first in _HOOKS:
        register = emitter.register_first if first else emitter.register
        register(event_name, handler, unique_id=unique_id)
    _EMITTERS.add(emitter, lambda: _unregister(emitter))


def _unregister(emitter: Any) -> None:
    for event_name, _, unique_id, _first in _HOOKS:
        emitter.unregister(event_name, unique_id=unique_id)


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


def instrument_client(client: Any, *, telemetry: object = None) -> Any:
    """Record every operation of this botocore/boto3 client and return it; a second call adds nothing."""
    check_telemetry(telemetry)
    _register(_emitter(client))
    return client


def instrument_session(session: Any, *, telemetry: object = None) -> Any:
    """Record the operations of every client ``session`` (boto3 or botocore) creates from now on.

    Returns ``session``. Clients copy the session's hooks when they are created; earlier
    clients are unaffected.
    """
    check_telemetry(telemetry)
    _register(_emitter(session))
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
