"""Process-wide state, in one place.

Everything the package remembers for the life of the process (the current set-up and its
recorder, the breakers created by name, degraded flags, what is being watched at scrape time)
lives in the one :data:`STATE` object, so that a test, or a service that re-configures itself,
has exactly one :func:`reset` to call and no module keeps a copy that a reset would miss.

The fields are typed loosely on purpose: this module imports nothing of the package, so every
other module can import it without an import cycle.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LOCK", "STATE", "ProcessState", "reset"]


@dataclass(slots=True)
class ProcessState:
    """The package's memory for this process; see the module docstring."""

    #: the :class:`telemetry.bootstrap.Telemetry` made by ``setup()``, or ``None``
    setup: Any = None
    #: the options the current set-up was made with (to warn about ignored ones)
    setup_options: dict[str, Any] = field(default_factory=dict)
    #: the :class:`telemetry.recorder.Recorder` every ``record()`` goes through, or ``None``
    recorder: Any = None
    #: home-grown breakers by name (``telemetry.breaker.circuit_breaker(name)``)
    breakers: dict[str, Any] = field(default_factory=dict)
    #: per retry name, the pre-bound first-attempt counters (``telemetry.retry``)
    retry_first_attempt: dict[str, Any] = field(default_factory=dict)
    #: degraded flags by component (``telemetry.fallback.set_degraded``)
    degraded: dict[str, bool] = field(default_factory=dict)
    #: warnings already given once (by key)
    warned: set[str] = field(default_factory=set)
    #: anything else a module registers for the process, by the module's own key
    extra: dict[str, Any] = field(default_factory=dict)


#: the one instance; modules read and write its fields, never rebind it
STATE = ProcessState()
#: guards changes to :data:`STATE` that must be atomic (set-up, first creation of a breaker)
LOCK = threading.RLock()


def reset() -> None:
    """Forget everything the process remembers (tests; a service re-configuring itself).

    Providers that were installed globally in OpenTelemetry stay installed: OpenTelemetry allows
    setting them once per process.
    """
    with LOCK:
        fresh = ProcessState()
        for item in dataclasses.fields(ProcessState):
            setattr(STATE, item.name, getattr(fresh, item.name))
