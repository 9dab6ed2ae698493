"""Secrets in every shape reach no output (issue 15, finding 2).

Exception messages written as Python dict text, JSON, HTTP header text; structured log fields
named with any separator; lists of ``(name, value)`` header pairs. The outputs are the ERROR
log line, the server span (``exception.message``/``exception.stacktrace``, events, status),
the error bodies and the health answer.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, field_validator

import telemetry
from telemetry.health import HealthRegistry, health_router
from telemetry.logging import configure_logging, unconfigure_logging
from telemetry.redaction import MASK, Redactor, is_secret_key, redact_text, redact_value
from telemetry.testing import in_memory_tracer, json_lines

SECRET = "Zq7xW9kP2mN4vB6c"

# The shapes of finding 2, each with the secret inside.
LEAKED_SHAPES = {
    "python-dict": f"connect failed: {{'user': 'app', 'password': '{SECRET}'}}",
    "json": f'upstream said {{"api_key": "{SECRET}", "ok": false}}',
    "authorization-token": f"request headers: Authorization: Token {SECRET}",
    "cookie": f"request headers: Cookie: sessionid={SECRET}; theme=dark",
}


def test_redact_text_masks_the_shapes_that_leaked() -> None:
    """Each shape keeps its surroundings and loses the secret."""
    assert {name: redact_text(text) for name, text in LEAKED_SHAPES.items()} == {
        "python-dict": "connect failed: {'user': 'app', 'password': '***'}",
        "json": 'upstream said {"api_key": "***", "ok": false}',
        "authorization-token": "request headers: Authorization: ***",
        "cookie": "request headers: Cookie: ***",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # found by the property test below: a password holding "//"
        ("postgresql://app:222222222//2@db.internal:5432/orders", "postgresql://app:***@db.internal:5432/orders"),
        # RFC 3986 userinfo may hold ":" after the first one
        ("amqp://guest:pa:ss@rabbit/vhost", "amqp://guest:***@rabbit/vhost"),
        ("redis://:s3cr3t/x@cache:6379/0", "redis://:***@cache:6379/0"),
        # the scan stops at the next URL: only the credentials are masked
        ("see http://a.b:8080/x and https://u:pw9@h/", "see http://a.b:8080/x and https://u:***@h/"),
    ],
)
def test_url_credentials_with_slashes_and_colons_are_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_field_names_with_any_separator_are_secret() -> None:
    """api-key, private-key, db_passwd, cookies, apiKey, session_id are secret names; ordinary
    names stay visible."""
    names = ["api-key", "api_key", "apiKey", "private-key", "db_passwd", "cookies", "session_id", "X-Api-Key"]
    assert {name: is_secret_key(name) for name in names} == dict.fromkeys(names, True)
    plain = ["event", "user_id", "author", "queue", "retry_name", "correlation_id", "error.type"]
    assert {name: is_secret_key(name) for name in plain} == dict.fromkeys(plain, False)


def test_structured_fields_and_header_pairs_are_masked() -> None:
    """The Redactor masks the fields named in finding 2 and the values of secret header pairs."""
    event = {
        "event": "upstream.call",
        "api-key": SECRET,
        "private-key": SECRET,
        "db_passwd": SECRET,
        "cookies": {"sessionid": SECRET},
        "headers": [("Accept", "text/html"), ("Cookie", f"sessionid={SECRET}"), ("X-Api-Key", SECRET)],
        "raw_headers": [(b"x-api-key", SECRET.encode())],
    }
    assert Redactor()(None, "info", event) == {
        "event": "upstream.call",
        "api-key": MASK,
        "private-key": MASK,
        "db_passwd": MASK,
        "cookies": MASK,
        "headers": [("Accept", "text/html"), ("Cookie", MASK), ("X-Api-Key", MASK)],
        "raw_headers": [(b"x-api-key", MASK)],
    }


def _outputs_app() -> tuple[FastAPI, Any, io.StringIO]:
    """An instrumented app whose routes push a text into every output: an unhandled exception
    (ERROR log line, server span), a validation error (422 body), a failing health check."""
    provider, exporter = in_memory_tracer()
    app = FastAPI()
    box: dict[str, str] = {}

    class Body(BaseModel):
        name: str

        @field_validator("name")
        @classmethod
        def check(cls, _value: str) -> str:
            raise ValueError(box["text"])

    @app.post("/validate")
    async def validate(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError(box["text"])

    health = HealthRegistry()

    @health.check("db")
    async def db() -> None:
        raise ConnectionError(box["text"])

    app.include_router(health_router(health))
    telemetry.instrument(app, tracer_provider=provider, service_name="orders")
    app.state.box = box
    stream = io.StringIO()
    return app, exporter, stream


async def _every_output(app: FastAPI, exporter: Any, stream: io.StringIO, text: str) -> dict[str, str]:
    """Push ``text`` through every route; each output rendered as text."""
    app.state.box["text"] = text
    exporter.clear()
    stream.seek(0)
    stream.truncate()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        crash = await client.get("/crash")
        invalid = await client.post("/validate", json={"name": "x"})
        detailed = await client.get("/health/detailed")
    spans = exporter.get_finished_spans()
    return {
        "log": stream.getvalue(),
        "span": "\n".join(span.to_json() for span in spans),
        "error bodies": f"{crash.text}\n{invalid.text}",
        "health": detailed.text,
    }


def _leaks(outputs: dict[str, str], secret: str) -> list[str]:
    return sorted(where for where, text in outputs.items() if secret in text)


def test_exception_messages_in_every_shape_reach_no_output() -> None:
    """An unhandled exception whose message holds a secret in each shape of finding 2: the ERROR
    line, the span's exception.message/stacktrace, the error bodies and health answer hold none."""
    app, exporter, stream = _outputs_app()
    configure_logging(service="orders", stream=stream)
    try:
        found = {
            name: _leaks(asyncio.run(_every_output(app, exporter, stream, text)), SECRET)
            for name, text in LEAKED_SHAPES.items()
        }
        log = json_lines(stream)
    finally:
        unconfigure_logging()
    assert found == {name: [] for name in LEAKED_SHAPES}
    assert [line["event"] for line in log if line["level"] == "error"] == ["telemetry.http.unhandled_exception"]


# --- the property: generated secrets in generated shapes -----------------------------------------
SECRETS = st.text(
    alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.~+/:", min_size=12, max_size=32
).filter(lambda s: s[0].isalnum() and s[-1].isalnum() and not s.isalpha() and not s.isdigit())
NAMES = st.sampled_from(
    [
        "password",
        "passwd",
        "db_passwd",
        "db-password",
        "dbPassword",
        "pwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refreshToken",
        "api_key",
        "api-key",
        "apiKey",
        "X-Api-Key",
        "private_key",
        "private-key",
        "privateKey",
        "aws_secret_access_key",
        "session_id",
        "sessionid",
        "session",
        "cookie",
        "cookies",
        "credentials",
        "authorization",
        "auth",
    ]
)
HEADERS = st.sampled_from(
    ["Authorization", "authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key"]
)
SCHEMES = st.sampled_from(["Bearer", "Basic", "Token", "Digest", "ApiKey", "Negotiate", "AWS4-HMAC-SHA256"])
FILLER = st.text(alphabet="abcdefghij klmnop", max_size=12)


@st.composite
def structures(draw: st.DrawFn, secret: str) -> Any:
    """A nested dict or a list of pairs with ``secret`` under a secret name somewhere inside."""
    inner: Any = {draw(NAMES): secret, "note": draw(FILLER)}
    for _ in range(draw(st.integers(0, 3))):
        inner = draw(
            st.sampled_from(
                [
                    {"outer": inner, "n": 1},
                    [inner, "x"],
                    [("Accept", "*/*"), ("wrapped", inner)],
                ]
            )
        )
    pairs = [("Accept", "*/*"), (draw(HEADERS), secret)]
    return draw(st.sampled_from([inner, pairs, {"headers": pairs}]))


@st.composite
def texts(draw: st.DrawFn, secret: str) -> str:
    """Free text carrying ``secret``: a repr, JSON, header text, key=value, a DSN or URL."""
    shape = draw(st.sampled_from(["repr", "json", "header", "key=value", "dsn", "url"]))
    if shape == "repr":
        text = repr(draw(structures(secret)))
    elif shape == "json":
        text = json.dumps(draw(structures(secret)))
    elif shape == "header":
        name = draw(HEADERS)
        if "auth" in name.lower():
            value = f"{draw(SCHEMES)} {secret}"
        elif "cookie" in name.lower():
            value = f"{draw(st.sampled_from(['sessionid', 'sid', 'csrftoken', 'prefs']))}={secret}; Path=/"
        else:
            value = secret
        text = f"{name}: {value}"
    elif shape == "key=value":
        text = f"{draw(NAMES)}{draw(st.sampled_from(['=', ': ', ' = ', '=']))}{secret}"
    elif shape == "dsn":
        text = f"postgresql://app:{secret}@db.internal:5432/orders"
    else:
        text = f"https://user:{secret}@example.com/path?x=1"
    before = draw(st.sampled_from(["", " ", "; ", "\n"]))
    return f"{draw(FILLER)}{before}{text}{draw(FILLER)}"


@settings(max_examples=400, deadline=None)
@given(data=st.data(), secret=SECRETS)
def test_property_no_generated_secret_survives_redaction(data: st.DataObject, secret: str) -> None:
    """redact_text on any generated text and redact_value/Redactor on any generated structure
    leave no trace of the secret."""
    text = data.draw(texts(secret))
    structure = data.draw(structures(secret))
    assert secret not in redact_text(text), text
    assert secret not in repr(redact_value(structure)), structure
    assert secret not in repr(Redactor()(None, "info", {"event": "e", "detail": structure, "message": text}))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), secret=SECRETS)
def test_property_no_generated_secret_reaches_any_output(data: st.DataObject, secret: str) -> None:
    """The generated text as an exception message, through the whole service: the ERROR log
    line, the server span (attributes, events, status), the error bodies and the health answer."""
    text = data.draw(texts(secret))
    app, exporter, stream = _APP
    configure_logging(service="orders", stream=stream)
    try:
        outputs = asyncio.run(_every_output(app, exporter, stream, text))
    finally:
        unconfigure_logging()
    assert _leaks(outputs, secret) == [], text


_APP = _outputs_app()


def test_redaction_is_linear_in_the_input_size() -> None:
    """Redacting 16x more text of every shape takes at most about 16x longer (64x allowed for
    a loaded machine), never the square (256x)."""
    unit = " ".join(LEAKED_SHAPES.values()) + f" postgresql://a:{SECRET}@h/d X-Api-Key: {SECRET}\n"

    def cost(copies: int) -> float:
        text = unit * copies
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            redact_text(text)
            best = min(best, time.perf_counter() - started)
        return best

    small, large = cost(64), cost(1024)
    assert large < 64 * small, (small, large)
