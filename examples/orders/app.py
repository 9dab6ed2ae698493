"""The order service: FastAPI + SQLAlchemy + outbox + broker + S3, instrumented the way a user
would instrument it (only the package's public API).

Receipts that cannot reach S3 are parked as ``PENDING_NETWORK_RECOVERY`` (seed 003's pattern)
and uploaded in batches by a recovery job once S3 is back; order writes run under a time
budget, uploads behind a bulkhead, and order creation under a slowapi rate limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import structlog
from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel
from slowapi import Limiter
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

import telemetry
from examples.orders.broker import Broker, make_broker
from examples.orders.faults import Faults, PoolHostage
from examples.orders.settings import Settings
from examples.orders.storage import Storage
from telemetry.fallback import fallback_used, set_degraded
from telemetry.health import HealthRegistry, health_router, sqlalchemy_check
from telemetry.integrations.slowapi import instrument_limiter
from telemetry.integrations.sqlalchemy import instrument_engine
from telemetry.integrations.tenacity import instrument_retrying
from telemetry.outbox import OutboxRelay, enqueue, outbox_table, watch_outbox
from telemetry.recovery import PENDING_NETWORK_RECOVERY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

log = structlog.get_logger("orders")
ORDER_CREATED = "orders.created"

metadata = sa.MetaData()
orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item", sa.String(100), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("receipt_key", sa.String(200)),
)
outbox = outbox_table(metadata)
# Receipts S3 refused, waiting for it to come back (seed 003's PENDING_NETWORK_RECOVERY).
parked_receipts = sa.Table(
    "parked_receipts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.Integer, nullable=False),
    sa.Column("receipt_key", sa.String(200), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
RECOVERED = "RECOVERED"


class NewOrder(BaseModel):
    item: str
    quantity: int


class Receipt(BaseModel):
    text: str


class FaultChanges(BaseModel):
    s3_failure_ratio: float | None = None
    db_delay: float | None = None
    pool_holders: int | None = None
    broker_down: bool | None = None
    consumer_fail: bool | None = None
    breaker_open: bool | None = None
    drop_connections: bool | None = None


def _async_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


def _sync_url(url: str) -> str:
    return url.replace("+asyncpg", "+psycopg").replace("+aiosqlite", "")


class Orders:
    """The service's moving parts, created in the lifespan and torn down after it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.faults = Faults()
        self.hostage = PoolHostage()
        url = settings.database_url or settings.sqlite_default()
        self.sync_url = _sync_url(url)
        self.engine: AsyncEngine = create_async_engine(
            _async_url(url),
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            pool_pre_ping=True,
        )
        instrument_engine(self.engine, pool_name="orders")
        self.storage = Storage(settings, self.faults)
        self.broker: Broker = make_broker(settings, self.faults)
        self.health = HealthRegistry(timeout=1.0)
        self.health.add("database", sqlalchemy_check(self.engine))
        self.health.add("s3", self.storage.check, critical=False)
        self.health.add("broker", self.broker.check, critical=False)
        # The seeds' practice: retry connection errors only (a pool checkout timeout is one, for
        # reads), exponential backoff, 3 attempts.
        self.read_retry = instrument_retrying(
            AsyncRetrying(
                stop=stop_after_attempt(3),
                wait=wait_exponential(multiplier=0.05, max=0.5),
                retry=retry_if_exception_type((OperationalError, DisconnectionError, PoolTimeout)),
                reraise=True,
            ),
            name="orders_db_read",
        )
        # Generous limits: they are there to be observed, the drill's faults never reach them.
        self.uploads = telemetry.bulkhead("s3_uploads", 16, max_queue=64, queue_timeout=5.0)
        self.receipts_job = telemetry.recovery_job("receipts", dependency="s3")
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    async def start(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await self.broker.start(self.handle_order_created)
        self.storage.start()
        watch_outbox(self.sync_url)
        telemetry.watch_recovery_backlog(self.sync_url, name="receipts", table="parked_receipts", min_interval=1.0)
        self.receipts_job.dependency_returned()  # S3 answered at start-up
        relay = OutboxRelay(
            self.engine, outbox, self.broker.publisher, poll_interval=self.settings.relay_interval, max_attempts=50
        )
        self._tasks = [
            asyncio.create_task(relay.run(self._stop)),
            asyncio.create_task(self.broker.consume(self._stop)),
            asyncio.create_task(self.recover_receipts()),
        ]

    async def stop(self) -> None:
        self._stop.set()
        await self.hostage.release()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.broker.stop()
        self.storage.stop()
        await self.engine.dispose()

    async def handle_order_created(self, message: Any) -> None:
        """The consumer's business logic: fails on purpose when the drill says so."""
        if self.faults.consumer_fail:
            msg = "order.created handler failed (injected)"
            raise RuntimeError(msg)
        log.info("order.created.processed", message_id=getattr(message, "message_id", None))

    async def create(self, order: NewOrder) -> int:
        async with telemetry.timeout("orders.create", 5.0), AsyncSession(self.engine) as session, session.begin():
            if self.faults.db_delay:
                await asyncio.sleep(self.faults.db_delay)
            result = await session.execute(orders.insert().values(item=order.item, quantity=order.quantity))
            order_id = int(result.inserted_primary_key[0])
            await enqueue(session, outbox, destination=ORDER_CREATED, payload={"id": order_id, "item": order.item})
        return order_id

    async def read(self, order_id: int) -> dict[str, Any] | None:
        async for attempt in self.read_retry:
            with attempt:
                async with self.engine.connect() as conn:
                    if self.faults.db_delay:
                        await asyncio.sleep(self.faults.db_delay)
                    row = (await conn.execute(sa.select(orders).where(orders.c.id == order_id))).first()
        return dict(row._mapping) if row else None

    async def attach_receipt(self, order_id: int, receipt: Receipt) -> dict[str, Any]:
        key = f"receipts/{order_id}/{uuid.uuid4().hex}.txt"
        async with self.uploads:
            outcome = await self.storage.put(key, receipt.text.encode())
        if outcome != "stored":
            await self.park_receipt(order_id, key, receipt.text)
        if outcome == "rejected":
            fallback_used("receipt_upload", "breaker_open")
            set_degraded("receipts", degraded=True, reason="s3 breaker open")
            raise HTTPException(status_code=503, detail="receipt storage unavailable, try later")
        set_degraded("receipts", degraded=False)
        if outcome != "stored":
            raise HTTPException(status_code=502, detail="receipt storage failed")
        async with self.engine.begin() as conn:
            await conn.execute(orders.update().where(orders.c.id == order_id).values(receipt_key=key))
        return {"id": order_id, "receipt": key}

    async def park_receipt(self, order_id: int, key: str, text: str) -> None:
        """S3 refused the upload: keep the receipt for the recovery job (the caller still gets its error)."""
        from datetime import datetime, timezone

        async with self.engine.begin() as conn:
            await conn.execute(
                parked_receipts.insert().values(
                    order_id=order_id,
                    receipt_key=key,
                    body=text,
                    status=PENDING_NETWORK_RECOVERY,
                    created_at=datetime.now(timezone.utc),
                )
            )
        self.receipts_job.dependency_lost()
        self.receipts_job.parked(reason="s3_unavailable")

    async def recover_receipts(self, interval: float = 1.0, batch: int = 20) -> None:
        """The recovery job: while S3's breaker is closed, upload parked receipts in batches."""
        while not self._stop.is_set():
            await asyncio.sleep(interval)
            if self.storage.breaker.current_state != "closed":
                continue
            with contextlib.suppress(Exception):
                await self._recover_batch(batch)

    async def _recover_batch(self, batch: int) -> None:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(parked_receipts)
                    .where(parked_receipts.c.status == PENDING_NETWORK_RECOVERY)
                    .order_by(parked_receipts.c.id)
                    .limit(batch)
                )
            ).all()
        if not rows:
            return
        with self.receipts_job.run() as run:
            for row in rows:
                if await self.storage.put(row.receipt_key, row.body.encode()) != "stored":
                    # S3 is not back after all: stop here, the rest stays parked for the next round.
                    run.failed()
                    self.receipts_job.dependency_lost()
                    break
                self.receipts_job.dependency_returned()  # an upload went through: S3 is back
                async with self.engine.begin() as conn:
                    await conn.execute(
                        parked_receipts.update().where(parked_receipts.c.id == row.id).values(status=RECOVERED)
                    )
                    await conn.execute(
                        orders.update().where(orders.c.id == row.order_id).values(receipt_key=row.receipt_key)
                    )
                run.recovered()

    async def apply_faults(self, changes: dict[str, Any]) -> dict[str, Any]:
        self.faults.update(changes)
        if self.faults.drop_connections:
            self.faults.drop_connections = False  # one-shot: like a database restart's resets
            async with self.engine.connect() as conn:
                await conn.invalidate(exception=ConnectionResetError("connection reset by the database (injected)"))
        if "pool_holders" in changes:
            await self.hostage.release()
            if self.faults.pool_holders:
                await self.hostage.hold(self.engine, self.faults.pool_holders)
        if "breaker_open" in changes:
            self.storage.force_breaker(open_=self.faults.breaker_open)
        logging.getLogger("orders.faults").warning("faults changed: %s", changes)
        return self.faults.as_dict()


def _add_admin_routes(app: FastAPI, service: Orders) -> None:
    """Fault injection and redrive: routed only with ``ORDERS_FAULTS=1``."""

    @app.get("/admin/faults")
    async def get_faults() -> dict[str, Any]:
        return service.faults.as_dict()

    @app.post("/admin/faults")
    async def set_faults(changes: FaultChanges) -> dict[str, Any]:
        return await service.apply_faults(changes.model_dump(exclude_none=True))

    @app.post("/admin/redrive")
    async def redrive_dead_letters() -> dict[str, int]:
        """Move dead-lettered order.created messages back to their queue (after a fix)."""
        return await service.broker.redrive()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # Set up first: the pool, breaker and health instrumentation record into it.
    telemetry.setup(service_name="orders")
    orders_service = Orders(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await orders_service.start()
        try:
            yield
        finally:
            await orders_service.stop()

    app = FastAPI(title="orders (reference service)", lifespan=lifespan)
    app.state.orders = orders_service
    # Per client address; in-memory here, Redis (storage_uri=...) when several processes serve.
    limiter = Limiter(key_func=lambda request: request.client.host if request.client else "-")
    app.state.limiter = limiter
    instrument_limiter(limiter, app=app)

    def service() -> Orders:
        return orders_service

    @app.post("/orders", status_code=201)
    @limiter.limit("6000/minute")
    async def create_order(request: Request, order: NewOrder) -> dict[str, int]:  # noqa: ARG001 - slowapi reads it
        return {"id": await service().create(order)}

    @app.get("/orders/{order_id}")
    async def read_order(order_id: int) -> dict[str, Any]:
        found = await service().read(order_id)
        if found is None:
            raise HTTPException(status_code=404, detail="order not found")
        return found

    @app.put("/orders/{order_id}/receipt")
    async def put_receipt(order_id: int, receipt: Receipt) -> dict[str, Any]:
        return await service().attach_receipt(order_id, receipt)

    if settings.faults_enabled:
        _add_admin_routes(app, orders_service)

    app.include_router(health_router(orders_service.health))
    telemetry.instrument(app)
    return app
