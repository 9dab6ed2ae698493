"""What every named reporting handle (time budgets, rate limiters, bulkheads, recovery jobs)
needs: one handle per name for the process, pre-bound children for the current registry, and
a containment path so that reporting never raises into the caller.

Handles live in :data:`telemetry.state.STATE` (one registry per kind), so ``state.reset()``
forgets them with everything else. A handle re-binds when the process recorder changes (a new
``setup()``, a test's ``capture()``), which also re-creates its series at zero there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeVar

from telemetry import catalog, state
from telemetry.recorder import get_recorder

if TYPE_CHECKING:
    from collections.abc import Callable

    from telemetry.metrics import Instruments

__all__ = ["contained", "current_instruments", "handles", "named"]

H = TypeVar("H")
_log = logging.getLogger("telemetry")


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


def contained(what: str) -> None:
    """Call from an ``except`` block: count the failure, tell stdlib logging once per kind."""
    try:
        current_instruments().inc(catalog.TELEMETRY_SINK_ERRORS, "metrics")
        key = f"handles:{what}"
        if key not in state.STATE.warned:
            state.STATE.warned.add(key)
            _log.warning("telemetry could not record %s; further failures are only counted", what, exc_info=True)
    except Exception:  # noqa: S110 - the last line of defence must not raise either
        pass
