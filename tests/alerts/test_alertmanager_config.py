"""alerts/alertmanager.yml: real amtool checks of syntax and routing; inhibition labels exist."""

from __future__ import annotations

import pytest

from telemetry.rules.render import BREAKER_MUTES
from tests.alerts.support import ALERTS, alert_checks, load, run

CONFIG = ALERTS / "alertmanager.yml"


def test_amtool_check_config(amtool) -> None:
    """amtool accepts the generated configuration."""
    result = run(amtool, "check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=CircuitBreakerOpen", "severity=critical", "service=api"), "pager"),
        (("alertname=DeadLetterInflow", "severity=warning", "service=api"), "ticket"),
        (("alertname=Watchdog", "severity=info", "service=prometheus"), "deadman"),
        (("alertname=Anything", "severity=info", "service=api"), "default"),
    ],
)
def test_amtool_routes_each_severity(amtool, labels, receiver) -> None:
    """critical pages, warning opens a ticket, Watchdog goes to the dead-man receiver, info
    stays on the silent default receiver; a wrong expectation fails."""
    ok = run(amtool, "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receiver}", *labels)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip() == receiver
    wrong = run(amtool, "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=nobody", *labels)
    assert wrong.returncode == 1


def test_config_uses_modern_matchers_and_explicit_timing() -> None:
    """Only `matchers` syntax; grouping by alertname and service; explicit timings."""
    config = load(CONFIG)
    text = CONFIG.read_text(encoding="utf-8")
    assert "match:" not in text
    assert "match_re:" not in text
    assert "source_match:" not in text
    route = config["route"]
    assert (route["receiver"], route["group_by"]) == ("default", ["alertname", "service"])
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")
    assert [r["matchers"] for r in route["routes"]] == [
        ['alertname="Watchdog"'],
        ['severity="critical"'],
        ['severity="warning"'],
    ]


def test_inhibition_equal_labels_exist_on_source_and_target_alerts() -> None:
    """Inhibition only works when both alerts carry every `equal` label: the promtool cases'
    exact labels of CircuitBreakerOpen and of the alerts it mutes all have them."""
    rules = load(CONFIG)["inhibit_rules"]
    breaker = next(rule for rule in rules if rule["source_matchers"] == ['alertname="CircuitBreakerOpen"'])
    assert breaker["target_matchers"] == [f'alertname=~"{"|".join(BREAKER_MUTES)}"']
    fired: dict[str, list[dict]] = {}
    for check in alert_checks():
        for expected in check["exp_alerts"]:
            fired.setdefault(check["alertname"], []).append(expected["exp_labels"])
    for name in ("CircuitBreakerOpen", *BREAKER_MUTES):
        for labels in fired[name]:
            assert all(labels.get(key) for key in breaker["equal"]), (name, labels)
    by_severity = next(rule for rule in rules if rule["source_matchers"] == ['severity="critical"'])
    assert by_severity["equal"] == ["alertname", "service"]
    for labels_list in fired.values():
        for labels in labels_list:
            assert labels.get("service")
    # no alert matches both sides of the breaker inhibition
    assert "CircuitBreakerOpen" not in BREAKER_MUTES
