"""Shared fixtures. Each test gets a fresh process recorder and set-up state."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from telemetry import bootstrap, recorder, state

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    """Skip when a service or tool is missing on a developer machine; fail under CI=true."""
    if available:
        return
    if CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} is not available")


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    state.reset()
    recorder.reset_recorder()
    bootstrap.reset()
    yield
    state.reset()
    recorder.reset_recorder()
    bootstrap.reset()
