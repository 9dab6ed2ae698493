"""What every named reporting handle (time budgets, rate limiters, bulkheads, recovery jobs)
needs: one handle per name for the process, and pre-bound children for the current registry.
Reporting never raises: each handle calls :func:`telemetry.containment.contained` on failure.

Handles live in :data:`telemetry.state.STATE` (one registry per kind), so ``state.reset()``
forgets them with everything else. A handle re-binds when the process recorder changes (a new
``setup()``, a test's ``capture()``), which also re-creates its series at zero there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from telemetry import state
from telemetry.recorder import get_recorder

if TYPE_CHECKING:
    from collections.abc import Callable

    from telemetry.metrics import Instruments

__all__ = ["current_instruments", "handles", "named"]

H = TypeVar("H")


def current_instruments() -> Instruments:
    """The instruments of the process recorder (created with the default registry if none)."""
    return get_recorder().instruments


def named(kind: str, name: str, create: Callable[[], H]) -> H:
    """The process's one handle of ``kind`` called ``name``, made by ``create()`` on first use."""
    registry: dict[str, Any] = state.STATE.extra.get(kind) or {}
    found = registry.get(name)
    if found is not None:
        return found  # type: ignore[no-any-return]
    with state.LOCK:
        registry = state.STATE.extra.setdefault(kind, {})
        found = registry.get(name)
        if found is None:
            found = registry[name] = create()
        return found


def handles(kind: str) -> list[Any]:
    """Every handle of ``kind`` made so far (for scrape-time collectors)."""
    return list((state.STATE.extra.get(kind) or {}).values())
