"""Telemetry never breaks business code: a failure while recording is counted and told once.

The home-grown breaker and retry handles and the integrations that drive them call
:func:`contained` from an ``except`` block; :func:`warn_once` is the same "tell stdlib logging
once per kind" for conditions that are not exceptions. Which kinds were told lives in
:data:`telemetry.state.STATE` so ``telemetry.state.reset()`` forgets them.
"""

from __future__ import annotations

import logging
from typing import Final

from telemetry import catalog
from telemetry.recorder import get_recorder
from telemetry.state import LOCK, STATE

__all__ = ["contained", "warn_once"]

_log: Final = logging.getLogger("telemetry")


def warn_once(key: str, message: str, *args: object, exc_info: bool = False) -> None:
    """Log ``message`` at WARNING the first time ``key`` is seen in this process."""
    with LOCK:
        if key in STATE.warned:
            return
        STATE.warned.add(key)
    _log.warning(message, *args, exc_info=exc_info)


def contained(what: str) -> None:
    """Called from an ``except`` block: count the failure, tell stdlib logging once per kind."""
    try:
        get_recorder().instruments.inc(catalog.TELEMETRY_SINK_ERRORS, "metrics")
        warn_once(what, "telemetry could not record %s; further failures are only counted", what, exc_info=True)
    except Exception:  # noqa: S110 - the last line of defence must not raise either
        pass
