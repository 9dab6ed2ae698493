"""Property-based tests (hypothesis) of every parser that reads untrusted input.

The properties are the ones the atheris targets check (:mod:`fuzz.properties`); here they run
on structured random input on every ``make test``.
"""

from __future__ import annotations

import string
import time
from datetime import timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.properties import check_correlation_header, check_extract, check_redact_text, check_redactor, check_x_death
from telemetry import correlation

from .conftest import load_integration

KEYS = st.sampled_from(["traceparent", "tracestate", "baggage", "x-correlation-id", "x-death", "x-delivery-count"])
TRACEPARENTS = st.from_regex(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", fullmatch=True)
SCALARS = (
    st.text(max_size=300)
    | st.binary(max_size=300)
    | st.integers()
    | st.floats()
    | st.none()
    | st.booleans()
    | st.datetimes(timezones=st.just(timezone.utc))
    | TRACEPARENTS
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
HEADERS = st.dictionaries(KEYS | st.text(max_size=12), VALUES, max_size=7)
ID_HEADERS = st.sampled_from([b"x-correlation-id", b"x-request-id", b"X-Correlation-ID", b"accept"])
SECRET = st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=40)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(
    st.lists(
        st.tuples(ID_HEADERS, st.binary(max_size=300) | st.from_regex(rb"[A-Za-z0-9._:-]{1,130}", fullmatch=True)),
        max_size=4,
    )
)
def test_echoed_correlation_header_is_always_valid(headers: list[tuple[bytes, bytes]]) -> None:
    """Any request headers: exactly one valid correlation ID in the response (no CR/LF injection)."""
    check_correlation_header(headers)


@FAST
@given(HEADERS | VALUES)
def test_extract_never_raises_and_round_trips(headers: Any) -> None:
    """extract()/restored() on any mapping (or non-mapping) never raise; the bound ID is valid
    and inject() writes it back."""
    check_extract(headers)


@FAST
@given(st.text(max_size=2000), SECRET)
def test_redact_text_masks_secrets_in_any_surroundings(text: str, secret: str) -> None:
    """Secrets after key=, in URL credentials or as bearer tokens never survive, whatever text surrounds them."""
    check_redact_text(text, secret)


@FAST
@given(
    st.dictionaries(
        st.text(max_size=10) | st.sampled_from(["password", "token", "authorization", "cookie"]), VALUES, max_size=8
    )
)
def test_redactor_never_raises(event: dict[str, Any]) -> None:
    """The Redactor processes any event dict and masks secret-named keys."""
    check_redactor(event)


@FAST
@given(HEADERS)
def test_x_death_parser_never_raises(headers: dict[Any, Any]) -> None:
    """The AMQP x-death and delivery-count parsers accept any header table."""
    module = load_integration("telemetry.messaging", "x-death parser")
    check_x_death(module.parse_x_death, headers)
    check_x_death(module.delivery_count, headers)


def test_huge_correlation_header_is_replaced_quickly() -> None:
    """A 1 MB correlation header costs microseconds-to-milliseconds and is replaced, not echoed."""
    started = time.perf_counter()
    check_correlation_header([(b"x-correlation-id", b"a" * 1_000_000)])
    assert time.perf_counter() - started < 0.5
    _, value = correlation.extract({"x-correlation-id": "a" * 1_000_000, "traceparent": "0" * 1_000_000})
    assert value is None
