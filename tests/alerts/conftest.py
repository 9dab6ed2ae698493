"""Fixtures for the alert bundle: the real promtool and amtool binaries."""

from __future__ import annotations

import pytest

from tests.alerts.support import tool


@pytest.fixture
def promtool() -> str:
    return tool("promtool")


@pytest.fixture
def amtool() -> str:
    return tool("amtool")
