"""Fixtures for the timeout, rate-limit, bulkhead and recovery tests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest


@pytest.fixture
def uid() -> str:
    """A unique suffix for Redis keys and PostgreSQL tables (other agents share the services)."""
    return f"h6_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def raising_sink() -> Any:
    """A sink that fails on every event, for ``capture(extra_sinks=[raising_sink])``."""

    def sink(_event: Any) -> None:
        raise RuntimeError("sink down")

    sink.sink_name = "log"  # type: ignore[attr-defined]
    return sink
