"""Receipts in S3, behind a circuit breaker, with the drill's failure injection.

Without ``S3_ENDPOINT_URL`` a moto server is started on a loopback port, so the service runs
with Python alone. Injected failures answer like a struggling S3 (HTTP 503 ``SlowDown``), so
botocore retries them and the package classifies them exactly as it would real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from telemetry.integrations.botocore import instrument_client
from telemetry.integrations.pybreaker import instrument_breaker

if TYPE_CHECKING:
    from examples.orders.faults import Faults
    from examples.orders.settings import Settings

_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class _Raw:
    """Just enough of urllib3's response for botocore to read an injected body."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_args: Any, **_kwargs: Any) -> Any:
        yield self._body


class Storage:
    def __init__(self, settings: Settings, faults: Faults) -> None:
        import pybreaker

        self.settings = settings
        self.faults = faults
        self.bucket = settings.s3_bucket
        self._moto: Any = None
        self.down = False
        self.client: Any = None
        # The seeds' breaker: 3 failures open it, 10 s later one trial call half-opens it.
        self.breaker = instrument_breaker(pybreaker.CircuitBreaker(fail_max=3, reset_timeout=10, name="s3"))

    def start(self) -> None:
        import boto3
        from botocore.config import Config

        endpoint = self.settings.s3_endpoint_url
        if not endpoint:
            from moto.server import ThreadedMotoServer

            from examples.drill.stack import free_port

            port = free_port()
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            self._moto.start()
            endpoint = f"http://127.0.0.1:{port}"
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="orders",
            aws_secret_access_key="orders-secret",
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=1, read_timeout=2),
        )
        instrument_client(self.client)
        self.client.meta.events.register("before-send.s3", self._inject, unique_id="orders.fault-injection")
        with contextlib.suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
            self.client.create_bucket(Bucket=self.bucket)

    def stop(self) -> None:
        if self._moto is not None:
            self._moto.stop()

    def _inject(self, request: Any, **_: Any) -> Any:
        if not self.faults.s3_should_fail():
            return None
        from botocore.awsrequest import AWSResponse

        return AWSResponse(request.url, 503, {"content-type": "application/xml"}, _Raw(_SLOW_DOWN))

    def force_breaker(self, *, open_: bool) -> None:
        """Take S3 "down" for the breaker: it opens now and every trial call fails until the
        fault is removed; then the next trial after ``reset_timeout`` closes it."""
        self.down = open_
        if open_:
            self.breaker.open()

    async def put(self, key: str, body: bytes) -> str:
        """``stored``, ``failed`` or ``rejected`` (breaker open)."""
        import pybreaker

        def call() -> None:
            if self.down:
                msg = "s3 unreachable (injected)"
                raise ConnectionError(msg)
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body)

        try:
            await asyncio.to_thread(self.breaker.call, call)
        except pybreaker.CircuitBreakerError:
            return "rejected"
        except Exception:
            return "failed"
        return "stored"

    async def check(self) -> None:
        await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
