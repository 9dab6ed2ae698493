"""Bounded label values: the guard between user-controlled strings and metric cardinality.

Every open label (breaker names, pool names, operations, ``error.type``) passes through a
:class:`LabelGuard`. Values are cleaned to a safe alphabet and length; once a label has seen
``cap`` distinct values, new ones fold into ``_OTHER`` and the overflow is counted, so a flood
of distinct names can never create unbounded series.

A cap per label still lets two open labels multiply (cap x cap combinations): the series
budget of :class:`telemetry.metrics.Instruments` (1,000 combinations per metric, 10,000 in
all by default) bounds the product, folding every open label of a new combination into
``_OTHER`` together.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["OTHER", "LabelGuard", "clean", "error_type"]

OTHER: Final = "_OTHER"
MAX_LENGTH: Final = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/{}-]+")


def clean(value: object) -> str:
    """A label-safe rendering: restricted alphabet, bounded length ("" stays "": no value)."""
    return _UNSAFE.sub("_", str(value))[:MAX_LENGTH]


def error_type(exc: BaseException | type[BaseException] | None) -> str:
    """The bounded ``error.type`` of an exception: its class name, never its message.

    Built-in exceptions keep their bare name (``TimeoutError``); others keep the bare class
    name too, since module paths add cardinality without helping the on-call engineer.
    """
    if exc is None:
        return ""
    cls = exc if isinstance(exc, type) else type(exc)
    return clean(cls.__qualname__)


class LabelGuard:
    """Admits at most ``cap`` distinct values per label name; the rest become ``_OTHER``.

    Thread-safe; the fast path (a value already admitted) takes no lock. ``on_overflow`` is
    called with the label name each time a value is folded, so the fold is visible.
    """

    __slots__ = ("_lock", "_on_overflow", "_seen", "cap")

    def __init__(self, cap: int = 100, on_overflow: Callable[[str], None] | None = None) -> None:
        self.cap = _checked_cap(cap)
        self._on_overflow = on_overflow
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def set_cap(self, cap: int) -> None:
        """Change the cap (a later set-up); values already admitted stay admitted."""
        self.cap = _checked_cap(cap)

    def admit(self, label: str, value: object) -> str:
        """Return the value to use for ``label``: the cleaned value, or ``_OTHER``."""
        seen = self._seen.get(label)
        # Stored values are outputs of clean(), which is idempotent on them: a hit needs no cleaning.
        if seen is not None and type(value) is str and value in seen:
            return value
        text = clean(value)
        with self._lock:
            seen = self._seen.setdefault(label, set())
            if text in seen:
                return text
            if len(seen) < self.cap:
                seen.add(text)
                return text
        if self._on_overflow is not None:
            self._on_overflow(label)
        return OTHER


def _checked_cap(cap: int) -> int:
    if cap < 1:
        msg = f"label cap must be at least 1, got {cap}"
        raise ValueError(msg)
    return cap
