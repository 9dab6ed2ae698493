"""Label bounding: safe values, error types from class names, a hard cardinality cap."""

from __future__ import annotations

import threading

import pytest

from telemetry.labels import OTHER, LabelGuard, clean, error_type


class CustomError(Exception):
    pass


def test_error_type_is_class_name_never_message() -> None:
    """The message may hold secrets or IDs; only the class name is a label."""
    assert error_type(CustomError("password=hunter2 id=123")) == "CustomError"
    assert error_type(TimeoutError()) == "TimeoutError"
    assert error_type(KeyError) == "KeyError"
    assert error_type(None) == ""


def test_clean_restricts_alphabet_and_length() -> None:
    """Odd characters are replaced and long values cut; empty stays empty."""
    assert clean("orders db\r\nX-Evil: 1") == "orders_db_X-Evil:_1"
    assert clean("x" * 500) == "x" * 64
    assert clean("") == ""
    assert clean("s3:PutObject/v2") == "s3:PutObject/v2"


def test_guard_folds_values_past_cap_and_reports_overflow() -> None:
    """After `cap` distinct values, new ones become _OTHER and each fold is reported."""
    folded: list[str] = []
    guard = LabelGuard(cap=3, on_overflow=folded.append)
    assert [guard.admit("breaker", f"b{i}") for i in range(5)] == ["b0", "b1", "b2", OTHER, OTHER]
    assert guard.admit("breaker", "b1") == "b1"
    assert guard.admit("pool", "p0") == "p0"  # caps are per label
    assert folded == ["breaker", "breaker"]


def test_guard_is_exact_under_threads() -> None:
    """Concurrent admission never admits more than the cap."""
    guard = LabelGuard(cap=50)
    results: list[str] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        local = [guard.admit("name", f"v{offset * 1000 + i}") for i in range(100)]
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r for r in results if r != OTHER}) == 50
    assert results.count(OTHER) == 800 - 50


def test_guard_rejects_nonsense_cap() -> None:
    """A cap below 1 is a configuration error."""
    with pytest.raises(ValueError, match="at least 1"):
        LabelGuard(cap=0)
