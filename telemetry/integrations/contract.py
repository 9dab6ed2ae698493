"""The one contract every integration follows, and the small pieces that implement it.

Every integration offers ``instrument_<thing>(obj, *, telemetry=None)``, which returns ``obj``,
and ``uninstrument_<thing>(obj)``, which undoes exactly what the first did; both are idempotent.
:class:`Instrumented` remembers, per object, how to undo, so the two stay symmetric without a
flag attribute on objects that may not accept one. :func:`enabled` is OpenTelemetry's
suppression switch (``suppress_instrumentation()``), which every hook checks before it records.
:func:`require` imports an optional library or raises ``ImportError`` with the install hint.
"""

from __future__ import annotations

import importlib
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

__all__ = [
    "Instrumented",
    "check_telemetry",
    "enabled",
    "enabled_check",
    "install_hint",
    "require",
    "tracer_provider_for",
]


def install_hint(extra: str) -> str:
    """The one wording of the hint for a missing optional library."""
    return f"pip install 'resilience-telemetry[{extra}]'"


def require(module: str, extra: str, *, what: str | None = None) -> ModuleType:
    """Import ``module`` or raise ``ImportError`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        msg = f"{what or f'the {module} integration'} needs {module}: {install_hint(extra)}"
        raise ImportError(msg) from exc


def check_telemetry(telemetry: object) -> None:
    """The ``telemetry=`` argument of an integration that records through the current recorder.

    Events go through the process's one recorder, so the only set-up such an integration can
    record through is the current one; passing another is a mistake, said at once rather than
    silently ignored. ``None`` means the current set-up (or the default one, made on first use).
    """
    if telemetry is None:
        return
    from telemetry.bootstrap import current

    if telemetry is not current():
        msg = "telemetry= must be the current set-up (the one telemetry.setup() returned last)"
        raise ValueError(msg)


def tracer_provider_for(explicit: Any, telemetry: object) -> Any:
    """Where an integration's own spans go: ``explicit``, else the set-up's provider (the one
    given, else the current set-up's), else ``None`` (OpenTelemetry's global provider)."""
    if explicit is not None:
        return explicit
    if telemetry is None:
        from telemetry.bootstrap import current

        telemetry = current()
    return getattr(telemetry, "tracer_provider", None)


_is_enabled: Callable[[], bool] | None = None


def enabled_check() -> Callable[[], bool]:
    """The function behind :func:`enabled`, for a hot path that keeps it (a pybreaker listener).

    OpenTelemetry's ``is_instrumentation_enabled`` with one context lookup instead of two (it
    was half of a breaker call's overhead); the public function where the two suppression keys
    are not where this OpenTelemetry version is known to keep them.
    """
    global _is_enabled  # noqa: PLW0603 - resolved once, lazily: no import-time work
    if _is_enabled is not None:
        return _is_enabled
    from opentelemetry import context
    from opentelemetry.instrumentation import utils

    key = getattr(context, "_SUPPRESS_INSTRUMENTATION_KEY", None)
    plain = getattr(utils, "_SUPPRESS_INSTRUMENTATION_KEY_PLAIN", None)
    if key is None or plain is None:
        _is_enabled = utils.is_instrumentation_enabled
        return _is_enabled
    current = context.get_current

    def instrumentation_enabled() -> bool:
        ctx = current()
        return not (ctx.get(key) or ctx.get(plain))

    _is_enabled = instrumentation_enabled
    return _is_enabled


def enabled() -> bool:
    """False inside OpenTelemetry's ``suppress_instrumentation()``: hooks then record nothing.

    Called on hot paths (every pool checkout and checkin): see :func:`enabled_check`.
    """
    return bool((_is_enabled or enabled_check())())


class Instrumented:
    """Which objects an integration instrumented, and how to undo each.

    Objects are held weakly where they allow it (an instrumented object may be garbage
    collected without being uninstrumented) and by identity otherwise.
    """

    __slots__ = ("_lock", "_strong", "_weak", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._weak: weakref.WeakKeyDictionary[Any, Callable[[], None]] = weakref.WeakKeyDictionary()
        self._strong: dict[int, tuple[Any, Callable[[], None]]] = {}

    def __contains__(self, obj: object) -> bool:
        with self._lock:
            return self._find(obj) is not None

    def _find(self, obj: object) -> Callable[[], None] | None:
        try:
            return self._weak.get(obj)
        except TypeError:
            found = self._strong.get(id(obj))
            return found[1] if found is not None and found[0] is obj else None

    def add(self, obj: object, undo: Callable[[], None]) -> None:
        """Remember that ``obj`` is instrumented and how to undo it."""
        with self._lock:
            try:
                self._weak[obj] = undo
            except TypeError:
                self._strong[id(obj)] = (obj, undo)

    def claim(self, obj: object) -> Callable[[], None] | None:
        """Forget ``obj`` and return its undo callable (``None`` if it was not instrumented)."""
        with self._lock:
            undo = self._find(obj)
            if undo is None:
                return None
            try:
                del self._weak[obj]
            except (TypeError, KeyError):
                self._strong.pop(id(obj), None)
            return undo

    def remove(self, obj: object) -> bool:
        """Undo and forget ``obj``; False if it was not instrumented (idempotent)."""
        undo = self.claim(obj)
        if undo is None:
            return False
        undo()
        return True
