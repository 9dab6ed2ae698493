"""purgatory instrumentation: transitions from its hook, outcomes and rejections from the factory."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from telemetry.testing import capture
from tests.conftest import port_open, require
from tests.resilience_support import one_hot, outcomes

purgatory = pytest.importorskip("purgatory")
from purgatory.domain.model import OpenedState  # noqa: E402

from telemetry.integrations.purgatory import instrument_factory, uninstrument_factory  # noqa: E402


class Down(ConnectionError):
    pass


async def test_async_factory_full_cycle() -> None:
    """Two failures open the circuit, a call is rejected (OpenedState), after the TTL a trial
    success closes it; states are normalised and every count is exact."""
    breakers = instrument_factory(purgatory.AsyncCircuitBreakerFactory(default_threshold=2, default_ttl=0.05))

    @breakers("s3")
    async def upload(*, fail: bool) -> str:
        if fail:
            raise Down
        return "stored"

    with capture() as cap:
        assert await upload(fail=False) == "stored"
        assert one_hot(cap, "s3") == {"closed": 1.0, "open": 0.0, "half_open": 0.0}
        for _ in range(2):
            with pytest.raises(Down):
                await upload(fail=True)
        assert one_hot(cap, "s3") == {"closed": 0.0, "open": 1.0, "half_open": 0.0}
        with pytest.raises(OpenedState):
            await upload(fail=False)
        await asyncio.sleep(0.06)
        assert await upload(fail=False) == "stored"
        assert one_hot(cap, "s3") == {"closed": 1.0, "open": 0.0, "half_open": 0.0}
        open_time = cap.sample("resilience_circuit_time_in_state_seconds_total", breaker_name="s3", state="open")
    assert outcomes(cap, "s3") == {"success": 2.0, "failure": 2.0, "rejected": 1.0}
    assert cap.series("resilience_circuit_transitions_total") == [
        {"breaker_name": "s3", "from_state": "closed", "to_state": "open"},
        {"breaker_name": "s3", "from_state": "open", "to_state": "half_open"},
        {"breaker_name": "s3", "from_state": "half_open", "to_state": "closed"},
    ]
    assert open_time is not None
    assert open_time > 0.05
    assert [(log["event"], log["log_level"]) for log in cap.logs if log["log_level"] != "debug"] == [
        ("telemetry.breaker.opened", "error"),
        ("telemetry.breaker.half_opened", "warning"),
        ("telemetry.breaker.closed", "info"),
    ]


async def test_context_manager_form_instrument_twice_and_uninstrument() -> None:
    """`async with await get_breaker(...)` is observed; a second instrument adds nothing;
    after uninstrumenting nothing is recorded."""
    factory = purgatory.AsyncCircuitBreakerFactory()
    instrument_factory(factory)
    instrument_factory(factory)
    assert len(factory.listeners) == 1
    with capture() as cap:
        async with await factory.get_breaker("db"):
            pass
        assert outcomes(cap, "db") == {"success": 1.0, "failure": 0.0, "rejected": 0.0}
        uninstrument_factory(factory)
        assert factory.listeners == {}
        async with await factory.get_breaker("db"):
            pass
        assert outcomes(cap, "db") == {"success": 1.0, "failure": 0.0, "rejected": 0.0}


def test_sync_factory() -> None:
    """SyncCircuitBreakerFactory gets the same metrics."""
    breakers = instrument_factory(purgatory.SyncCircuitBreakerFactory(default_threshold=1, default_ttl=60))

    @breakers("ledger")
    def write(*, fail: bool) -> str:
        if fail:
            raise Down
        return "written"

    with capture() as cap:
        assert write(fail=False) == "written"
        with pytest.raises(Down):
            write(fail=True)
        with pytest.raises(OpenedState):
            write(fail=False)
    assert outcomes(cap, "ledger") == {"success": 1.0, "failure": 1.0, "rejected": 1.0}


async def test_raising_sink_and_concurrent_tasks(raising_sink: Any) -> None:
    """100 concurrent tasks through one instrumented breaker with a failing sink: results
    unchanged, counts exact."""
    breakers = instrument_factory(purgatory.AsyncCircuitBreakerFactory(default_threshold=1000))

    @breakers("fan")
    async def op(i: int) -> int:
        await asyncio.sleep(0)
        if i % 5 == 0:
            raise Down
        return i

    with capture(extra_sinks=[raising_sink]) as cap:
        results = await asyncio.gather(*(op(i) for i in range(100)), return_exceptions=True)
    assert [r for r in results if not isinstance(r, Down)] == [i for i in range(100) if i % 5]
    assert outcomes(cap, "fan") == {"success": 80.0, "failure": 20.0, "rejected": 0.0}


@pytest.mark.services
async def test_redis_unit_of_work() -> None:
    """With purgatory's Redis unit of work on the real Redis, transitions and rejections are
    recorded the same way, and a new factory adopts the stored open state without a transition."""
    require(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    name = f"telemetry-{uuid.uuid4().hex}"
    url = "redis://127.0.0.1:6379/0"
    first = instrument_factory(
        purgatory.AsyncCircuitBreakerFactory(
            default_threshold=1, default_ttl=60, uow=purgatory.AsyncRedisUnitOfWork(url)
        )
    )
    await first.initialize()
    try:
        with capture() as cap:
            with pytest.raises(Down):
                async with await first.get_breaker(name):
                    raise Down
            with pytest.raises(OpenedState):
                async with await first.get_breaker(name):
                    pass
        assert outcomes(cap, name) == {"success": 0.0, "failure": 1.0, "rejected": 1.0}
        assert cap.series("resilience_circuit_transitions_total") == [
            {"breaker_name": name, "from_state": "closed", "to_state": "open"}
        ]
        from telemetry.state import STATE

        STATE.breakers.clear()  # this process's handles gone, as if in another process
        second = instrument_factory(
            purgatory.AsyncCircuitBreakerFactory(default_ttl=60, uow=purgatory.AsyncRedisUnitOfWork(url))
        )
        await second.initialize()
        with capture() as cap:
            started = time.monotonic()
            with pytest.raises(OpenedState):
                async with await second.get_breaker(name):
                    pass
            assert one_hot(cap, name) == {"closed": 0.0, "open": 1.0, "half_open": 0.0}
        assert time.monotonic() - started < 5
        assert cap.series("resilience_circuit_transitions_total") == []
    finally:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(url)
        keys = [key async for key in client.scan_iter(f"*{name}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
