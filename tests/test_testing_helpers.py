"""The shared test helpers in telemetry.testing behave as their docstrings promise."""

from __future__ import annotations

import io
import itertools

import pytest

from telemetry.testing import RaisingSink, eventually, eventually_async, json_lines, require_service


def test_eventually_returns_the_first_truthy_result() -> None:
    """The poll stops at the first truthy result and hands it back."""
    counter = itertools.count()
    assert eventually(lambda: next(counter) >= 3 and "ready", interval=0.001) == "ready"


def test_eventually_names_what_it_waited_for() -> None:
    """A condition that never holds fails with what was awaited and the last result."""
    with pytest.raises(AssertionError, match=r"^worker exit not met within 0.05s \(last: 0\)$"):
        eventually(lambda: 0, timeout=0.05, interval=0.01, what="worker exit")


async def test_eventually_async_awaits_the_check() -> None:
    """The async variant awaits each check and returns the first truthy result."""
    results = iter([None, [], {"depth": 1}])

    async def check() -> object:
        return next(results)

    assert await eventually_async(check, interval=0.001) == {"depth": 1}


def test_raising_sink_raises_and_counts() -> None:
    """The raising sink raises the given error on every call and counts the calls."""
    sink = RaisingSink("audit", KeyError)
    for _ in range(2):
        with pytest.raises(KeyError):
            sink(object())
    assert (sink.name, sink.calls) == ("audit", 2)


def test_json_lines_skips_blank_lines() -> None:
    """JSON lines parse from a stream or a string; blank lines are ignored."""
    text = '{"event": "a"}\n\n{"event": "b", "n": 1}\n'
    expected = [{"event": "a"}, {"event": "b", "n": 1}]
    assert json_lines(text) == expected
    assert json_lines(io.StringIO(text)) == expected


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_require_service_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    """A missing service skips a developer's run but fails CI."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="RabbitMQ"):
        require_service(available=False, what="RabbitMQ")
    require_service(available=True, what="RabbitMQ")  # present: nothing happens
