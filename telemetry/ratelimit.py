"""Rate limiting: admitted and rejected requests by limit, the limiter's storage failures and
the fallback it takes when its storage is down.

Usage::

    import telemetry

    limiter = telemetry.rate_limiter("bot")        # the limiter's series exist from here on
    limiter.admitted("messages")                    # one pre-bound counter, the hot path
    limiter.rejected("messages", rule="20 per 1 minute", retry_after=12)
    limiter.storage_failed(exc)                     # Redis raised
    limiter.fallback_entered(exc)                   # per-process counters from now on
    limiter.fallback_exited()                       # Redis is back

For slowapi see :mod:`telemetry.integrations.slowapi`, which drives the same handle.

A limit is named by what it limits (a route template, ``messages``), never by the client key:
an address or a user ID per series would be unbounded, and a key in a log line is personal data.
Each limit's ``admitted`` and ``rejected`` series are created together, at zero, the first time
the limit is seen; the fallback flag and its activation counter exist at zero from the handle's
creation, so a service that never limits exports none of them and one that does can be alerted
on from its first scrape.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

from telemetry import catalog
from telemetry._handles import current_instruments, named
from telemetry.containment import contained
from telemetry.events.ratelimit import (
    RateLimitFallbackEntered,
    RateLimitFallbackExited,
    RateLimitRejected,
    RateLimitStorageFailed,
)
from telemetry.recorder import record

if TYPE_CHECKING:
    from telemetry.metrics import Instruments

__all__ = ["RateLimiter", "rate_limiter"]

_KIND: Final = "telemetry.ratelimit"
_LIMIT_CACHE: Final = 1024


class RateLimiter:
    """Telemetry for one rate limiter, by name. Get it with :func:`rate_limiter`.

    The handle remembers whether the limiter is on its fallback, so repeated reports of the
    same state (every request during an outage) record one switch, not one per request.
    """

    __slots__ = ("_admit", "_bound", "_lock", "_on_fallback", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._on_fallback = False
        self._bound: tuple[Instruments, str] | None = None
        self._admit: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<RateLimiter {self.name!r}{' on fallback' if self._on_fallback else ''}>"

    @property
    def on_fallback(self) -> bool:
        """Whether the limiter was last reported running on its fallback."""
        return self._on_fallback

    def _bind(self) -> tuple[Instruments, str]:
        instruments = current_instruments()
        bound = self._bound
        if bound is None or bound[0] is not instruments:
            with self._lock:
                label = instruments.admit(catalog.RATELIMIT_LIMITER, self.name)
                instruments.set(catalog.RATELIMIT_FALLBACK_ACTIVE, 1 if self._on_fallback else 0, label)
                instruments.child(catalog.RATELIMIT_FALLBACK_ACTIVATIONS, label)
                self._admit = {}
                bound = self._bound = (instruments, label)
        return bound

    def _admit_child(self, limit: str) -> Any:
        """The pre-bound ``admitted`` increment of ``limit``; both outcomes are created at 0."""
        instruments, label = self._bind()
        found = self._admit.get(limit)
        if found is None:
            value = instruments.admit(catalog.RATELIMIT_LIMIT, limit)
            instruments.child(catalog.RATELIMIT_DECISIONS, label, value, "rejected")
            found = instruments.child(catalog.RATELIMIT_DECISIONS, label, value, "admitted").inc
            if len(self._admit) >= _LIMIT_CACHE:
                self._admit.clear()
            self._admit[limit] = found
        return found

    def watch(self, limit: str) -> None:
        """Create ``limit``'s series at zero before its first request (e.g. at start-up)."""
        try:
            self._admit_child(limit)
        except Exception:
            contained("a rate-limit decision")

    def admitted(self, limit: str) -> None:
        """A request passed ``limit``: one pre-bound counter, no span event, no log line."""
        try:
            self._admit_child(limit)()
        except Exception:
            contained("a rate-limit decision")

    def rejected(self, limit: str, *, rule: str = "", retry_after: float | None = None) -> None:
        """A request was refused under ``limit`` (``rule`` as written, e.g. ``5 per 1 minute``)."""
        try:
            self._admit_child(limit)
            record(RateLimitRejected(limiter=self.name, limit=limit, rule=rule, retry_after=retry_after))
        except Exception:
            contained("a rate-limit rejection")

    def storage_failed(self, error: BaseException | None = None) -> None:
        """The limiter's storage failed a read or write with ``error``."""
        try:
            self._bind()
            record(RateLimitStorageFailed(limiter=self.name, caused_by=error))
        except Exception:
            contained("a rate-limit storage failure")

    def fallback_entered(self, error: BaseException | None = None) -> None:
        """The limiter now runs on its fallback; a repeat while already there is ignored."""
        try:
            self._bind()
            with self._lock:
                if self._on_fallback:
                    return
                self._on_fallback = True
            record(RateLimitFallbackEntered(limiter=self.name, caused_by=error))
        except Exception:
            contained("a rate-limit fallback")

    def fallback_exited(self) -> None:
        """The limiter's storage is back; a repeat while not on the fallback is ignored."""
        try:
            self._bind()
            with self._lock:
                if not self._on_fallback:
                    return
                self._on_fallback = False
            record(RateLimitFallbackExited(limiter=self.name))
        except Exception:
            contained("a rate-limit fallback")


def rate_limiter(name: str) -> RateLimiter:
    """The telemetry handle of rate limiter ``name`` (one per name), its series created at zero."""
    found = named(_KIND, name, lambda: RateLimiter(name))
    try:
        found._bind()
    except Exception:
        contained("a rate limiter")
    return found
