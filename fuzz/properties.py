"""What must hold for any input, checked by both the hypothesis tests and the atheris targets.

Each ``check_*`` function takes one input, exercises a parser and raises ``AssertionError``
when a property is broken; any other exception escaping is a bug too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telemetry import correlation
from telemetry.integrations.fastapi import CorrelationIdMiddleware
from telemetry.redaction import MASK, Redactor, redact_text

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping

__all__ = [
    "check_correlation_header",
    "check_extract",
    "check_redact_text",
    "check_redactor",
    "check_x_death",
]

MAX_CORRELATION_ID = 128


def run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (the middleware over a trivial app) without a loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    msg = "the coroutine suspended"
    raise AssertionError(msg)


async def _ok_app(_scope: Any, _receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-correlation-id", b"spoofed")]})
    await send({"type": "http.response.body", "body": b""})


async def _receive() -> dict[str, Any]:
    return {"type": "http.request"}


def check_correlation_header(headers: list[tuple[bytes, bytes]]) -> None:
    """Whatever request headers arrive, the response carries exactly one valid correlation ID:
    the offered one when it is valid, a fresh one otherwise, never CR/LF or anything else."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = CorrelationIdMiddleware(_ok_app)
    scope = {"type": "http", "headers": headers, "method": "GET", "path": "/"}
    run_sync(middleware(scope, _receive, send))
    echoed = [value for name, value in sent[0]["headers"] if name.lower() == b"x-correlation-id"]
    assert len(echoed) == 1, echoed
    value = echoed[0].decode("ascii")
    assert correlation.is_valid(value), value
    assert len(value) <= MAX_CORRELATION_ID
    offered = [v for n, v in headers if n.lower() in (b"x-correlation-id", b"x-request-id")]
    if offered and correlation.is_valid(correlation.header_text(dict(headers).get(b"x-correlation-id"))):
        assert echoed[0] == dict(headers)[b"x-correlation-id"]
    assert correlation.get_correlation_id() is None  # nothing bleeds out of the request


def check_extract(headers: Mapping[Any, Any] | Any) -> None:
    """extract() never raises, returns a valid ID or None; inject() after restoring round-trips."""
    ctx, value = correlation.extract(headers)
    assert value is None or correlation.is_valid(value), value
    with correlation.restored(headers) as bound:
        assert correlation.is_valid(bound)
        out: dict[str, Any] = {}
        correlation.inject(out)
        assert out[correlation.HEADER] == bound
        assert all("\r" not in v and "\n" not in v for v in out.values() if isinstance(v, str))
    del ctx


def check_redact_text(text: str, secret: str = "") -> None:
    """redact_text never raises, and a secret after a secret-looking key, inside URL credentials
    or as a bearer token never survives it. Secrets here are ASCII and at least 8 characters, as
    tokens are (RFC 6750); shorter words after "Bearer" are left alone on purpose."""
    redact_text(text)
    if len(secret) >= 8 and secret.isascii() and secret.isalnum():
        for template in ("password={}", "token: {}", "postgresql://user:{}@db/x", "Authorization: Bearer {}"):
            wrapped = f"{text} {template.format(secret)} {text}"
            # A "secret" spelled like the template's own words ("password") survives as the key.
            if secret not in text and secret.lower() not in template.lower():
                assert secret not in redact_text(wrapped), (template, text)


def check_redactor(event: dict[Any, Any]) -> None:
    """The Redactor never raises on any event dict and masks every secret-named key at top level."""
    out = Redactor()(None, "info", dict(event))
    for key in ("password", "token", "authorization", "cookie"):
        if key in event:
            assert out[key] == MASK


def check_x_death(parse: Any, headers: Any) -> None:
    """The AMQP ``x-death`` parser never raises on any header value and returns plain data."""
    parse(headers)
