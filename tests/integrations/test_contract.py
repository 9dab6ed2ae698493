"""The one integration contract, proved for every integration in one table.

Each row says how to make the instrumented object, how to instrument and uninstrument it, and
how to make it do one thing worth recording. The tests then check the contract points the same
way for all of them: instrumenting records, twice records once, uninstrumenting (also twice)
records nothing, OpenTelemetry's ``suppress_instrumentation()`` records nothing, and
``is_instrumented`` follows along.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation

from telemetry.testing import capture


class Seen:
    """A sink that keeps the class name of every event recorded."""

    sink_name = "seen"

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, event: Any) -> None:
        self.names.append(type(event).__name__)


@dataclass(frozen=True)
class Case:
    """How one integration is driven through the contract."""

    make: Callable[[], Any]
    instrument: Callable[[Any], Any]
    uninstrument: Callable[[Any], Any]
    is_instrumented: Callable[[Any], bool]
    exercise: Callable[[Any], None]
    #: what one ``exercise`` records, read after it (events by class name unless a row says else)
    observed: Callable[[Any, Seen], list[str]] = lambda _obj, seen: seen.names
    #: the object the instrument call returns (``None`` for stamina: its hooks are process-wide)
    returns_object: bool = True


# --- tenacity ---------------------------------------------------------------------------------
def _tenacity_make() -> Any:
    import tenacity

    return tenacity.Retrying(stop=tenacity.stop_after_attempt(3), wait=tenacity.wait_none(), reraise=True)


def _fails_once() -> Callable[[], str]:
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError
        return "ok"

    return call


def _tenacity_case() -> Case:
    from telemetry.integrations import tenacity as ours

    return Case(
        make=_tenacity_make,
        instrument=lambda obj: ours.instrument_retrying(obj, name="contract"),
        uninstrument=ours.uninstrument_retrying,
        is_instrumented=ours.is_instrumented,
        exercise=lambda obj: obj(_fails_once()),
    )


# --- stamina ----------------------------------------------------------------------------------
def _stamina_make() -> None:
    from stamina.instrumentation import set_on_retry_hooks

    set_on_retry_hooks([])  # no default hooks: only ours, when instrumented


def _stamina_exercise(_obj: Any) -> None:
    import stamina

    stamina.retry(on=ConnectionError, attempts=2, wait_initial=0.0, wait_max=0.0, wait_jitter=0.0)(_fails_once())()


def _stamina_case() -> Case:
    from telemetry.integrations import stamina as ours

    return Case(
        make=_stamina_make,
        instrument=lambda _obj: ours.instrument_stamina(),
        uninstrument=lambda _obj: ours.uninstrument_stamina(),
        is_instrumented=lambda _obj: ours.is_instrumented(),
        exercise=_stamina_exercise,
        returns_object=False,
    )


# --- pybreaker --------------------------------------------------------------------------------
def _pybreaker_exercise(cb: Any) -> None:
    def broken() -> None:
        raise ConnectionError

    with contextlib.suppress(ConnectionError):
        cb.call(broken)


def _pybreaker_case() -> Case:
    import pybreaker

    from telemetry.integrations import pybreaker as ours

    return Case(
        make=lambda: pybreaker.CircuitBreaker(fail_max=100, name="contract"),
        instrument=ours.instrument_breaker,
        uninstrument=ours.uninstrument_breaker,
        is_instrumented=ours.is_instrumented,
        exercise=_pybreaker_exercise,
    )


# --- purgatory --------------------------------------------------------------------------------
def _purgatory_exercise(factory: Any) -> None:
    with contextlib.suppress(ConnectionError), factory.get_breaker("contract"):
        raise ConnectionError


def _purgatory_case() -> Case:
    import purgatory

    from telemetry.integrations import purgatory as ours

    return Case(
        make=lambda: purgatory.SyncCircuitBreakerFactory(default_threshold=100),
        instrument=ours.instrument_factory,
        uninstrument=ours.uninstrument_factory,
        is_instrumented=ours.is_instrumented,
        exercise=_purgatory_exercise,
    )


# --- botocore ---------------------------------------------------------------------------------
def _botocore_make() -> Any:
    import botocore.session
    from botocore.stub import Stubber

    client = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", aws_access_key_id="contract", aws_secret_access_key="contract"
    )
    stubber = Stubber(client)
    stubber.activate()
    client._contract_stubber = stubber  # kept alive with the client
    return client


def _botocore_exercise(client: Any) -> None:
    client._contract_stubber.add_response("list_buckets", {"Buckets": []})
    client.list_buckets()


def _botocore_case() -> Case:
    from telemetry.integrations import botocore as ours

    return Case(
        make=_botocore_make,
        instrument=ours.instrument_client,
        uninstrument=ours.uninstrument_client,
        is_instrumented=ours.is_instrumented,
        exercise=_botocore_exercise,
    )


# --- SQLAlchemy -------------------------------------------------------------------------------
def _sqlalchemy_make() -> Any:
    import sqlalchemy

    return sqlalchemy.create_engine("sqlite://", poolclass=sqlalchemy.pool.QueuePool)


def _sqlalchemy_exercise(engine: Any) -> None:
    with engine.connect() as connection:
        connection.invalidate()


def _sqlalchemy_case() -> Case:
    from telemetry.integrations import sqlalchemy as ours

    return Case(
        make=_sqlalchemy_make,
        instrument=ours.instrument_engine,
        uninstrument=ours.uninstrument_engine,
        is_instrumented=ours.is_instrumented,
        exercise=_sqlalchemy_exercise,
    )


# --- FastAPI ----------------------------------------------------------------------------------
def _fastapi_make() -> Any:
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry

    import telemetry

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    app.state.contract_telemetry = telemetry.setup(registry=CollectorRegistry())
    return app


def _fastapi_exercise(app: Any) -> None:
    import httpx

    async def get() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get("/ping")).status_code == 200

    asyncio.run(get())


def _fastapi_requests(app: Any, _seen: Seen) -> list[str]:
    """HTTP metrics go straight to the set-up's instruments (no event): one entry per request seen."""
    registry = app.state.contract_telemetry.registry
    labels = {"http_request_method": "GET", "http_route": "/ping", "http_response_status_code": "200"}
    count = registry.get_sample_value("http_server_request_duration_seconds_count", labels) or 0
    return ["request"] * int(count)


def _fastapi_case() -> Case:
    from telemetry.integrations import fastapi as ours

    return Case(
        make=_fastapi_make,
        instrument=lambda app: ours.instrument_app(app, telemetry=app.state.contract_telemetry),
        uninstrument=ours.uninstrument_app,
        is_instrumented=ours.is_instrumented,
        exercise=_fastapi_exercise,
        observed=_fastapi_requests,
    )


# --- slowapi ----------------------------------------------------------------------------------
def _slowapi_make() -> Any:
    """A limiter (memory storage) and a decorated endpoint; each exercise uses a client key of its own."""
    from slowapi import Limiter
    from starlette.requests import Request

    rounds = [0]
    limiter = Limiter(key_func=lambda: f"client-{rounds[0]}", storage_uri="memory://")

    @limiter.limit("2/minute")
    async def quotes(request: Request) -> dict[str, str]:
        return {"ok": "yes"}

    limiter.contract_round = rounds  # type: ignore[attr-defined]
    limiter.contract_endpoint = quotes  # type: ignore[attr-defined]
    return limiter


def _slowapi_exercise(limiter: Any) -> None:
    """Three requests under a 2/minute limit: two admitted (counted, no event), one rejected."""
    from slowapi.errors import RateLimitExceeded
    from starlette.requests import Request

    limiter.contract_round[0] += 1

    async def three() -> None:
        for _ in range(3):
            scope = {"type": "http", "method": "GET", "path": "/quotes", "headers": [], "query_string": b""}
            with contextlib.suppress(RateLimitExceeded):
                await limiter.contract_endpoint(request=Request(scope))

    asyncio.run(three())


def _slowapi_case() -> Case:
    from telemetry.integrations import slowapi as ours

    return Case(
        make=_slowapi_make,
        instrument=ours.instrument_limiter,
        uninstrument=ours.uninstrument_limiter,
        is_instrumented=ours.is_instrumented,
        exercise=_slowapi_exercise,
    )


CASES: dict[str, tuple[Callable[[], Case], list[str]]] = {
    "tenacity": (_tenacity_case, ["RetryScheduled", "RetrySucceeded"]),
    "stamina": (_stamina_case, ["RetryScheduled"]),
    "pybreaker": (_pybreaker_case, ["CircuitCallFailed"]),
    "purgatory": (_purgatory_case, ["CircuitCallFailed"]),
    "botocore": (_botocore_case, ["DependencyCallSucceeded"]),
    "sqlalchemy": (_sqlalchemy_case, ["PoolConnectionInvalidated"]),
    "fastapi": (_fastapi_case, ["request"]),
    "slowapi": (_slowapi_case, ["RateLimitRejected"]),
}


@pytest.fixture(params=sorted(CASES))
def row(request: pytest.FixtureRequest) -> Iterator[tuple[Case, list[str]]]:
    """One integration's row; its library must be installed (the table never skips a row)."""
    build, expected = CASES[request.param]
    case = build()
    yield case, expected
    if request.param == "stamina":
        _stamina_make()  # leave stamina's hooks as the next test expects them: none of ours


def _run(case: Case, obj: Any) -> list[str]:
    seen = Seen()
    with capture(extra_sinks=[seen]):
        case.exercise(obj)
    return case.observed(obj, seen)


def test_instrument_records_and_returns_the_object(row: tuple[Case, list[str]]) -> None:
    """Instrumenting returns the object (``None`` for stamina) and the next call is recorded."""
    case, expected = row
    obj = case.make()
    returned = case.instrument(obj)
    assert returned is (obj if case.returns_object else None)
    assert case.is_instrumented(obj)
    assert _run(case, obj) == expected


def test_instrument_twice_records_once(row: tuple[Case, list[str]]) -> None:
    """A second instrument call adds nothing: one call, one set of events."""
    case, expected = row
    obj = case.make()
    case.instrument(obj)
    case.instrument(obj)
    assert _run(case, obj) == expected


def test_uninstrument_twice_records_nothing(row: tuple[Case, list[str]]) -> None:
    """Uninstrumenting undoes it, a second uninstrument is harmless, and nothing is recorded."""
    case, _expected = row
    obj = case.make()
    case.instrument(obj)
    returned = case.uninstrument(obj)
    case.uninstrument(obj)
    assert returned is (obj if case.returns_object else None)
    assert not case.is_instrumented(obj)
    assert _run(case, obj) == []


def test_uninstrument_of_an_object_never_instrumented_is_harmless(row: tuple[Case, list[str]]) -> None:
    """Uninstrumenting something never instrumented changes nothing and records nothing."""
    case, _expected = row
    obj = case.make()
    case.uninstrument(obj)
    assert not case.is_instrumented(obj)
    assert _run(case, obj) == []


def test_suppressed_instrumentation_records_nothing(row: tuple[Case, list[str]]) -> None:
    """Inside OpenTelemetry's suppress_instrumentation() an instrumented object records nothing."""
    case, expected = row
    obj = case.make()
    case.instrument(obj)
    with suppress_instrumentation():
        assert _run(case, obj) == []
    assert _run(case, obj) == expected
