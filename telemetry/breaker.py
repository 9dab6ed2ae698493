"""Home-grown circuit breakers report in one line each; and the one breaker-state collector.

Usage::

    import telemetry

    payments = telemetry.circuit_breaker("payments")   # every state series exists from here on
    payments.state_changed("closed", "open")            # in your breaker's transition code
    payments.rejected()                                 # when it refuses a call
    payments.succeeded()                                # or payments.failed(exc)

Retries have their own module, :mod:`telemetry.retry`.

A :class:`Breaker` handle is the single place where a breaker's state lives for telemetry,
whoever drives it: the pybreaker and purgatory integrations use the same handles. The
one-hot ``resilience_circuit_state`` gauge and the cumulative
``resilience_circuit_time_in_state_seconds_total`` counter are produced at scrape time by
:class:`BreakerCollector` from the state the handles hold in memory, so a scrape never
touches a breaker's storage (Redis) and an open state shorter than a scrape interval still
shows as open time. Every method here is safe to call from any thread or task and never
raises into the caller.

The collector joins the registry of the current set-up when a handle is created or used.
With a custom registry, call ``telemetry.setup(registry=...)`` before creating handles (or
before instrumenting breakers) so the state series are there before the first call; the
default registry needs nothing.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog
from telemetry.containment import contained, warn_once
from telemetry.events.breaker import CircuitCallFailed, CircuitCallRejected, state_changed_event
from telemetry.labels import OTHER, clean
from telemetry.metrics import family, one_adder
from telemetry.multiprocess import publish_soon
from telemetry.recorder import get_recorder, record
from telemetry.state import LOCK, STATE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from telemetry.metrics import Instruments

__all__ = [
    "STATES",
    "Breaker",
    "BreakerCollector",
    "circuit_breaker",
    "normalize_state",
]

STATES: Final = catalog.BREAKER_STATES
_ALIASES: Final = {"opened": "open", "half_opened": "half_open", "halfopen": "half_open"}


def normalize_state(state: object) -> str | None:
    """``closed``/``open``/``half_open`` from a library's spelling, or ``None`` if unknown.

    Accepts strings (``"half-open"``, ``"opened"``, ``"HALF_OPEN"``), enum members and state
    objects with a ``name`` (pybreaker).
    """
    raw = state if isinstance(state, str) else getattr(state, "name", state)
    text = str(raw).strip().lower().replace("-", "_").replace(" ", "_")
    text = _ALIASES.get(text, text)
    return text if text in STATES else None


class Breaker:
    """Telemetry for one circuit breaker, by name. Get it with :func:`circuit_breaker`.

    The handle tracks the state it was last told about and the time spent in each state.
    Transitions, failures and rejections are recorded as events (metric, span, log);
    successes, the hot path, only increment a pre-bound counter and tag a recording span.
    """

    __slots__ = ("_bound", "_lock", "_since", "_spent", "_state", "label", "name")

    def __init__(self, name: str, state: object = "closed") -> None:
        self.name = name
        self.label = clean(name)
        self._lock = threading.Lock()
        self._state = normalize_state(state) or "closed"
        self._since = time.monotonic()
        self._spent = dict.fromkeys(STATES, 0.0)
        self._bound: tuple[Instruments, Any] | None = None

    def __repr__(self) -> str:
        return f"<Breaker {self.name!r} {self._state}>"

    @property
    def state(self) -> str:
        """The state last reported: ``closed``, ``open`` or ``half_open``."""
        return self._state

    def time_in_state(self) -> dict[str, float]:
        """Seconds spent in each state since the handle was created, the current stay included."""
        return self._snapshot()[1]

    def _snapshot(self) -> tuple[str, dict[str, float]]:
        with self._lock:
            spent = dict(self._spent)
            spent[self._state] += time.monotonic() - self._since
            return self._state, spent

    def _bind(self) -> tuple[Instruments, Any]:
        """Pre-bind the success counter in the current registry and register the collector there."""
        instruments = get_recorder().instruments
        bound = self._bound
        if bound is None or bound[0] is not instruments:
            self.label = instruments.admit(catalog.BREAKER_NAME, self.name)
            instruments.register(COLLECTOR)
            # Every outcome series exists from the start, so rate() and alerts see a 0, not nothing.
            for outcome in ("failure", "rejected"):
                instruments.child(catalog.CIRCUIT_CALLS, self.label, outcome)
            success = instruments.child(catalog.CIRCUIT_CALLS, self.label, "success")
            bound = self._bound = (instruments, one_adder(success))
        return bound

    def _move(self, target: str) -> str | None:
        """Enter ``target``; the state left, or ``None`` if already there."""
        with self._lock:
            current = self._state
            if target == current:
                return None
            now = time.monotonic()
            self._spent[current] += now - self._since
            self._state, self._since = target, now
        publish_soon()  # several workers: the new state reaches the files now, not in a second
        return current

    def sync(self, state: object) -> None:
        """Adopt ``state`` without recording a transition (a state observed, not a change seen)."""
        target = normalize_state(state)
        if target is not None:
            self._move(target)

    def state_changed(self, old: object, new: object) -> None:
        """The breaker moved from ``old`` to ``new`` (any spelling :func:`normalize_state` knows).

        A change into the state the handle already holds is ignored, so a second observer of a
        shared (Redis) state, or a repeated notification, does not count twice. ``old`` may be
        ``None``; the handle's own state is used then.
        """
        try:
            target = normalize_state(new)
            if target is None:
                warn_once(f"state:{new!r}", "breaker %r reported unknown state %r; ignored", self.name, new)
                return
            left = self._move(target)
            if left is None:
                return
            self._bind()
            source = normalize_state(old) if old is not None else None
            record(state_changed_event(self.name, source if source not in (None, target) else left, target))
        except Exception:
            contained("a breaker state change")

    def succeeded(self) -> None:
        """A call went through and succeeded: one pre-bound counter, nothing else (the hot path:
        no span attribute, no event, no log line)."""
        try:
            bound = self._bound
            if bound is None or bound[0] is not get_recorder().instruments:
                bound = self._bind()
            bound[1]()
        except Exception:
            contained("a breaker success")

    def failed(self, error: BaseException | None = None) -> None:
        """A call went through and failed in a way that counts against the breaker."""
        try:
            self._bind()
            record(CircuitCallFailed(breaker_name=self.name, state=self._state, caused_by=error))
        except Exception:
            contained("a breaker failure")

    def rejected(self) -> None:
        """The breaker refused a call without trying the dependency."""
        try:
            self._bind()
            record(CircuitCallRejected(breaker_name=self.name, state=self._state))
        except Exception:
            contained("a breaker rejection")


def circuit_breaker(name: str, *, state: object = "closed") -> Breaker:
    """The telemetry handle of breaker ``name``, created on first use (one per admitted name;
    a name folded into ``_OTHER`` gets a fresh handle each time, never kept).

    A new handle starts in ``state`` (the breaker's current state when known); an existing
    handle keeps its own (use :meth:`Breaker.sync` to adopt an observed one). The handle's
    state series are exported from the moment it exists.
    """
    found: Breaker | None = STATE.breakers.get(name)
    if found is None:
        fresh = Breaker(name, state)
        try:
            fresh._bind()
        except Exception:
            contained("a breaker registration")
        if fresh.label == OTHER:
            # Folded into _OTHER: its state series are never exported, so keeping the handle
            # would only grow memory with every new name of a flood.
            return fresh
        with LOCK:
            found = STATE.breakers.setdefault(name, fresh)
    try:
        found._bind()
    except Exception:
        contained("a breaker registration")
    return found


class BreakerCollector:
    """Scrape-time one-hot state and cumulative time in state of every :class:`Breaker`.

    Reads only the handles' memory; registered in each registry a handle is used with.
    """

    def describe(self) -> list[Any]:
        return [family(catalog.CIRCUIT_STATE), family(catalog.CIRCUIT_TIME_IN_STATE)]

    def collect(self) -> Iterator[Any]:
        states = family(catalog.CIRCUIT_STATE)
        spent = family(catalog.CIRCUIT_TIME_IN_STATE)
        seen: set[str] = set()
        for handle in list(STATE.breakers.values()):
            label = handle.label
            # Names folded into _OTHER cannot share one set of state series; skip, never merge.
            if label == OTHER or label in seen:
                continue
            seen.add(label)
            current, totals = handle._snapshot()
            for state in STATES:
                states.add_metric([label, state], 1.0 if state == current else 0.0)
                spent.add_metric([label, state], totals[state])
        yield states
        yield spent


COLLECTOR: Final = BreakerCollector()
