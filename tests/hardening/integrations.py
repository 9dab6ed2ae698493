"""The integration table the sweeping tests iterate over.

One :class:`Integration` per event source. ``leak`` pushes the :data:`SECRETS` into every input
the integration reads (names, headers, exception messages, DSNs, log fields) inside a
:class:`~tests.hardening.conftest.Harness`; ``flood`` drives it with ``n`` distinct names,
exception types, queues or operations. Both receive the integration's imported module.
An entry whose module is missing skips locally and fails under ``CI=true`` (see ``load_integration``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import ModuleType
from typing import Any, Final, NamedTuple

import structlog
from fastapi import HTTPException
from pydantic import BaseModel

import telemetry
from telemetry.events import RetryAbandoned, RetryExhausted, RetryScheduled, RetrySucceeded

from .conftest import Harness

# Distinct, greppable values; none of them may appear in any output.
PASSWORD: Final = "pw-Hunter2-7f3a9"
TOKEN: Final = "tok-9c1d2e3f4a5b6c7d8e"
COOKIE: Final = "ck-4b5c6d7e8f9a0b"
API_KEY: Final = "ak-1234abcd5678ef"
DSN_PASSWORD: Final = "dsnpw-55aa66bb"
AWS_SECRET: Final = "awsS3cr3tK3yAbCdEf012345"
SECRETS: Final = [PASSWORD, TOKEN, COOKIE, API_KEY, DSN_PASSWORD, AWS_SECRET]
DSN: Final = f"postgresql://app:{DSN_PASSWORD}@db.internal:5432/orders"
AMQP_URL: Final = f"amqp://guest:{DSN_PASSWORD}@broker:5672/"


def secret_error(kind: type[Exception] = RuntimeError) -> Exception:
    """An exception whose message carries credentials, as driver errors often do."""
    return kind(f"connect to {DSN} failed: password={PASSWORD} token={TOKEN} aws_secret_access_key={AWS_SECRET}")


def dynamic_exception(i: int) -> Exception:
    """An exception of a class made on the fly: a new ``error.type`` each call."""
    return type(f"Err{i}", (Exception,), {})()


class Pair(NamedTuple):
    left: str
    right: str


def deeply_nested(leaf: object, depth: int) -> object:
    for _ in range(depth):
        leaf = {"level": [leaf]}
    return leaf


LeakDriver = Callable[[ModuleType, Harness], Awaitable[None]]
FloodDriver = Callable[[ModuleType, Harness, int], Awaitable[None]]


@dataclass(frozen=True)
class Integration:
    name: str
    module: str
    leak: LeakDriver
    flood: FloodDriver


# --- FastAPI --------------------------------------------------------------------------------
class Login(BaseModel):
    user: str
    attempts: int


async def fastapi_leak(_module: ModuleType, h: Harness) -> None:
    @h.app.get("/orders/{order_id}")
    async def read_order(order_id: int) -> dict[str, int]:
        structlog.get_logger("orders").info(
            "order.read",
            password=PASSWORD,
            authorization=f"Bearer {TOKEN}",
            note=f"using {DSN} with api_key={API_KEY}",
            nested={"cookie": COOKIE, "deeper": [{"client_secret": AWS_SECRET}]},
            error=secret_error(),
            raw=f"api_key={API_KEY}".encode(),
            deep=deeply_nested({"password": PASSWORD}, 12),
            pair=Pair(DSN, f"token={TOKEN}"),
        )
        logging.getLogger("orders.stdlib").warning("stdlib line with %s and token=%s", DSN, TOKEN)
        return {"id": order_id}

    @h.app.get("/crash")
    async def crash() -> None:
        raise secret_error()

    @h.app.post("/login")
    async def login(body: Login) -> dict[str, str]:
        return {"user": body.user}

    @h.app.get("/forbidden")
    async def forbidden() -> None:
        raise HTTPException(status_code=403)

    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Cookie": f"session={COOKIE}; theme=dark",
        "X-Api-Key": API_KEY,
        "X-Correlation-ID": f"Bearer {TOKEN}\r\nSet-Cookie: {COOKIE}",
        "X-Request-ID": f"{PASSWORD} ",
    }
    query = f"?token={TOKEN}&password={PASSWORD}&api_key={API_KEY}&X-Amz-Signature={AWS_SECRET}"
    await h.get(f"/orders/7{query}", headers=headers)
    await h.get(f"/crash{query}", headers=headers)
    await h.post(f"/login{query}", json={"user": "bob", "attempts": f"password={PASSWORD}"}, headers=headers)
    await h.post("/login", content=f'{{"user": "{PASSWORD}", "attempts": "{TOKEN}"}}', headers=headers)
    await h.get(f"/forbidden{query}", headers=headers)
    await h.get(f"/no/such/path{query}", headers=headers)
    await h.get(f"/metrics{query}", headers=headers)


async def fastapi_flood(_module: ModuleType, h: Harness, n: int) -> None:
    @h.app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    methods = ["GET", "BREW", "PROPFIND", "X-" + "Y" * 40]
    for i in range(n):
        await h.client.request(methods[i % len(methods)], f"/items/{i}")
        await h.client.get(f"/unknown/{i}/{'z' * (i % 50)}")


# --- the explicit recording API (home-grown retry code) --------------------------------------
async def record_leak(_module: ModuleType, h: Harness) -> None:
    @h.app.get("/retrying")
    async def retrying() -> dict[str, bool]:
        error = secret_error(ConnectionError)
        telemetry.record(RetryScheduled(retry_name="orders_db", attempt=1, delay=0.1, caused_by=error))
        telemetry.record(RetryExhausted(retry_name="orders_db", attempts=3, waited=0.3, caused_by=error))
        telemetry.record(RetryAbandoned(retry_name="orders_db", attempts=1, caused_by=error))
        telemetry.record(RetrySucceeded(retry_name="orders_db", attempts=2))
        return {"ok": True}

    await h.get("/retrying")


async def record_flood(_module: ModuleType, h: Harness, n: int) -> None:
    for i in range(n):
        name = f"op-{i}-{'x' * (i % 90)}"
        telemetry.record(RetryScheduled(retry_name=name, attempt=i, delay=0.0, caused_by=dynamic_exception(i)))
        telemetry.record(RetryExhausted(retry_name=name, attempts=3, caused_by=dynamic_exception(i)))
        telemetry.record(RetrySucceeded(retry_name=f"ok {i}\n", attempts=1 + i % 3))


# --- tenacity ---------------------------------------------------------------------------------
def _failing_retry(module: ModuleType, name: str, error: Callable[[], Exception]) -> Callable[[], Awaitable[None]]:
    from tenacity import retry, stop_after_attempt, wait_none

    @retry(stop=stop_after_attempt(3), wait=wait_none(), reraise=True)
    async def call() -> None:
        raise error()

    return module.instrument_retrying(call, name=name)  # type: ignore[no-any-return]


async def tenacity_leak(module: ModuleType, h: Harness) -> None:
    @h.app.get("/tenacity")
    async def route() -> dict[str, bool]:
        with contextlib.suppress(ConnectionError):
            await _failing_retry(module, "orders_db", lambda: secret_error(ConnectionError))()
        return {"ok": True}

    await h.get("/tenacity")


async def tenacity_flood(module: ModuleType, _h: Harness, n: int) -> None:
    for i in range(n):
        with contextlib.suppress(Exception):
            await _failing_retry(module, f"op-{i}", functools.partial(dynamic_exception, i))()


# --- pybreaker ----------------------------------------------------------------------------------
def _tripped_breaker(module: ModuleType, name: str, error: Callable[[], Exception], calls: int) -> None:
    import pybreaker

    breaker = module.instrument_breaker(pybreaker.CircuitBreaker(fail_max=1, reset_timeout=60, name=name))

    def call() -> None:
        raise error()

    for _ in range(calls):
        with contextlib.suppress(Exception):
            breaker.call(call)


async def pybreaker_leak(module: ModuleType, h: Harness) -> None:
    @h.app.get("/pay")
    async def route() -> dict[str, bool]:
        _tripped_breaker(module, "payments", secret_error, 3)
        return {"ok": True}

    await h.get("/pay")


async def pybreaker_flood(module: ModuleType, _h: Harness, n: int) -> None:
    for i in range(n):
        _tripped_breaker(module, f"breaker-{i}", functools.partial(dynamic_exception, i), 2)


# --- health checks ------------------------------------------------------------------------------
async def health_leak(module: ModuleType, h: Harness) -> None:
    health = module.HealthRegistry(timeout=0.5)

    def database() -> bool:
        raise secret_error(ConnectionError)

    async def s3() -> bool:
        raise secret_error(PermissionError)

    health.add("database", database)
    health.add("s3", s3, critical=False)
    h.app.include_router(module.health_router(health))
    await h.get("/health/detailed")
    await h.get("/health/ready")
    with h.telemetry.tracer_provider.get_tracer("hardening").start_as_current_span("health-run"):
        await health.run()


async def health_flood(module: ModuleType, _h: Harness, n: int) -> None:
    health = module.HealthRegistry(timeout=0.5)
    for i in range(n):

        async def check(i: int = i) -> bool:
            raise dynamic_exception(i)

        health.add(f"check-{i}", check)
    await health.run()


# --- botocore (S3) ------------------------------------------------------------------------------
def _s3_client(module: ModuleType) -> Any:
    import boto3

    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key=AWS_SECRET
    )
    module.instrument_client(client)
    return client


async def botocore_leak(module: ModuleType, h: Harness) -> None:
    from botocore.stub import Stubber

    client = _s3_client(module)

    @h.app.get("/receipt")
    async def route() -> dict[str, bool]:
        with Stubber(client) as stub:
            stub.add_client_error("get_object", "AccessDenied", f"denied: {DSN} token={TOKEN} password={PASSWORD}", 403)
            with contextlib.suppress(Exception):
                client.get_object(Bucket="receipts", Key="r1")
        return {"ok": True}

    await h.get("/receipt")


async def botocore_flood(module: ModuleType, _h: Harness, n: int) -> None:
    from botocore.stub import Stubber

    client = _s3_client(module)
    with Stubber(client) as stub:
        for i in range(n):
            stub.add_client_error("get_object", f"Code{i}", "no", 400 + i % 100)
        for _ in range(n):
            with contextlib.suppress(Exception):
                client.get_object(Bucket="receipts", Key="r1")


# --- aio-pika consumers and DLQs -----------------------------------------------------------------
@dataclass
class Delivery:
    """A delivered message as the consumer wrapper sees it (no broker needed)."""

    headers: dict[str, Any]
    body: bytes = b"{}"
    message_id: str | None = "m-1"
    correlation_id: str | None = None
    settled: list[str] = field(default_factory=list)

    async def ack(self) -> None:
        self.settled.append("ack")

    async def reject(self, requeue: bool = False) -> None:
        self.settled.append(f"reject(requeue={requeue})")


async def aio_pika_leak(module: ModuleType, h: Harness) -> None:
    from telemetry.messaging import parse_x_death

    async def handle(_message: Any) -> None:
        structlog.get_logger("orders").info("handling", url=AMQP_URL)
        raise secret_error(module.PermanentError)

    consumer = module.instrument_consumer(handle, queue="orders.created")
    headers = {
        "authorization": f"Bearer {TOKEN}",
        "x-correlation-id": f"{TOKEN}\r\n",
        "x-death": [{"queue": f"q?password={PASSWORD}", "reason": f"token={TOKEN}", "count": 2}],
        "cookie": COOKIE,
    }
    await consumer(Delivery(headers=headers, body=f'{{"password": "{PASSWORD}"}}'.encode()))
    h.outputs.extra.append(repr(parse_x_death(headers)))


async def aio_pika_flood(module: ModuleType, _h: Harness, n: int) -> None:
    for i in range(n):

        async def handle(_message: Any, i: int = i) -> None:
            raise dynamic_exception(i)

        consumer = module.instrument_consumer(handle, queue=f"queue-{i}", max_attempts=1)
        death = [{"queue": f"src-{i}", "reason": f"reason-{i}", "count": i}]
        await consumer(Delivery(headers={"x-death": death}, message_id=f"m-{i}"))


# --- SQLAlchemy pools --------------------------------------------------------------------------
async def sqlalchemy_leak(module: ModuleType, h: Harness) -> None:
    """A DSN with a password (PostgreSQL trusts any), a pool timeout and an invalidation."""
    import sqlalchemy as sa

    from telemetry.testing import port_open, require_service

    require_service(port_open("127.0.0.1", 5432), "PostgreSQL on 127.0.0.1:5432")
    url = f"postgresql+psycopg://postgres:{DSN_PASSWORD}@127.0.0.1:5432/test?application_name={TOKEN}"
    engine = sa.create_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.05)
    module.instrument_engine(engine)

    @h.app.get("/db")
    async def route() -> dict[str, bool]:
        with engine.connect() as held:
            held.execute(sa.text("select 1"))
            with contextlib.suppress(sa.exc.TimeoutError):
                engine.connect()  # the pool is empty: a timeout event, a WARNING line
            held.invalidate(secret_error(ConnectionError))
        return {"ok": True}

    try:
        await h.get("/db")
    finally:
        engine.dispose()


async def sqlalchemy_flood(module: ModuleType, _h: Harness, n: int) -> None:
    import sqlalchemy as sa

    engines = [sa.create_engine("sqlite://", poolclass=sa.pool.QueuePool, pool_size=1) for _ in range(n)]
    for i, engine in enumerate(engines):
        module.instrument_engine(engine, pool_name=f"pool-{i}")
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    for engine in engines:
        engine.dispose()


# --- outbox relay --------------------------------------------------------------------------------
class FailingPublisher:
    def __init__(self, error: Callable[[], Exception]) -> None:
        self.error = error

    async def publish(self, *_args: Any) -> None:
        raise self.error()


def _row(module: ModuleType, destination: str, attempts: int, headers: dict[str, Any]) -> Any:
    return module.OutboxMessage(
        message_id=f"m-{destination}-{attempts}",
        destination=destination,
        payload=f'{{"password": "{PASSWORD}"}}'.encode(),
        headers=headers,
        created_at=datetime.now(tz=timezone.utc),
        attempts=attempts,
    )


async def outbox_leak(module: ModuleType, h: Harness) -> None:
    headers = {
        "authorization": f"Bearer {TOKEN}",
        "cookie": COOKIE,
        "x-correlation-id": f"{PASSWORD}\r\nx: y",
        "traceparent": f"00-{TOKEN}-bad",
    }
    publisher = FailingPublisher(secret_error)
    for attempts in (0, 2):  # one retry scheduled, then the budget is spent
        result = await module.publish_instrumented(
            publisher,
            _row(module, "orders:order.created", attempts, headers),
            max_attempts=3,
            tracer_provider=h.telemetry.tracer_provider,
        )
        h.outputs.extra.append(f"{result.outcome} {result.attempt}")


async def outbox_flood(module: ModuleType, h: Harness, n: int) -> None:
    for i in range(n):
        await module.publish_instrumented(
            FailingPublisher(functools.partial(dynamic_exception, i)),
            _row(module, f"exchange-{i}:key-{i}", 0, {}),
            max_attempts=1,
            tracer_provider=h.telemetry.tracer_provider,
        )


INTEGRATIONS: list[Integration] = [
    Integration("fastapi", "telemetry.integrations.fastapi", fastapi_leak, fastapi_flood),
    Integration("record", "telemetry.recorder", record_leak, record_flood),
    Integration("tenacity", "telemetry.integrations.tenacity", tenacity_leak, tenacity_flood),
    Integration("pybreaker", "telemetry.integrations.pybreaker", pybreaker_leak, pybreaker_flood),
    Integration("health", "telemetry.health", health_leak, health_flood),
    Integration("botocore", "telemetry.integrations.botocore", botocore_leak, botocore_flood),
    Integration("aio_pika", "telemetry.integrations.aio_pika", aio_pika_leak, aio_pika_flood),
    Integration("sqlalchemy", "telemetry.integrations.sqlalchemy", sqlalchemy_leak, sqlalchemy_flood),
    Integration("outbox", "telemetry.outbox", outbox_leak, outbox_flood),
]

# Timeouts, rate limiters, bulkheads and recovery jobs (their drivers live in toolbox.py).
from .toolbox import TOOLBOX  # noqa: E402 - toolbox.py imports the helpers defined above

INTEGRATIONS += TOOLBOX
