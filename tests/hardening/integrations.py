"""The integration table the sweeping tests iterate over.

One :class:`Integration` per event source. ``leak`` pushes the :data:`SECRETS` into every input
the integration reads (names, headers, exception messages, DSNs, log fields) inside a
:class:`~tests.hardening.conftest.Harness`; ``flood`` drives it with ``n`` distinct names,
exception types, queues or operations. Both receive the integration's imported module.
An entry whose module is not in the tree yet skips with that reason (see ``load_integration``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Final, NamedTuple

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


INTEGRATIONS: list[Integration] = [
    Integration("fastapi", "telemetry.integrations.fastapi", fastapi_leak, fastapi_flood),
    Integration("record", "telemetry.recorder", record_leak, record_flood),
]
