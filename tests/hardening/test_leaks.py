"""No leaks: secrets pushed into every input never appear in any output.

Each integration in :data:`tests.hardening.integrations.INTEGRATIONS` drives its inputs with
passwords, tokens, cookies, API keys and DSN credentials; the sweep then reads the JSON log
stream as shipped, every span (attributes, events, status), the metric exposition and every
HTTP answer (status line, headers, body).
"""

from __future__ import annotations

import pytest

from .conftest import Harness, leaks, load_integration
from .integrations import INTEGRATIONS, SECRETS, Integration


@pytest.mark.parametrize("entry", INTEGRATIONS, ids=[entry.name for entry in INTEGRATIONS])
async def test_no_secret_reaches_any_output(entry: Integration, harness: Harness) -> None:
    """Every secret put into the integration's inputs is absent from logs, spans, metrics and answers."""
    module = load_integration(entry.module, entry.name)
    await entry.leak(module, harness)
    texts = harness.outputs.texts()
    assert texts["logs"], "the run logged nothing: the sweep would prove nothing"
    assert texts["spans"] or texts["other"], "the run produced no spans: the sweep would prove nothing"
    assert leaks(harness.outputs, SECRETS) == {}


async def test_sweep_finds_a_planted_secret(harness: Harness) -> None:
    """The sweep itself works: a secret logged under a harmless key in plain text is found."""

    @harness.app.get("/careless")
    async def careless() -> dict[str, str]:
        import structlog

        structlog.get_logger("orders").info("careless", note=SECRETS[0])
        return {"echo": SECRETS[1]}

    await harness.get("/careless")
    assert leaks(harness.outputs, SECRETS) == {"logs": [SECRETS[0]], "responses": [SECRETS[1]]}


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_sweep_entry_whose_module_is_gone_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    """A table entry naming a module the tree no longer has fails under CI=true (skips locally)."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match=r"telemetry\.integrations\.moved_away"):
        load_integration("telemetry.integrations.moved_away", "moved")
