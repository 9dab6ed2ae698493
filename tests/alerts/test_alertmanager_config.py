"""alerts/alertmanager.yml: the paging policy, checked by amtool (syntax, routing) and by a real
Alertmanager (inhibition of the same object only, Watchdog repeating at its promised interval,
every severity reaching a receiver)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from examples.drill.stack import Stack
from telemetry.rules import RulesConfig
from telemetry.rules.render import BREAKER_MUTES, alertmanager
from tests.alerts.support import ALERTS, alert_checks, load, run, tool

CONFIG = ALERTS / "alertmanager.yml"


def test_amtool_check_config(amtool) -> None:
    """amtool accepts the generated configuration."""
    result = run(amtool, "check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=CircuitBreakerOpen", "severity=critical", "job=api"), "pager"),
        (("alertname=DeadLetterInflow", "severity=warning", "job=api"), "ticket"),
        (("alertname=Watchdog", "severity=info", "job=prometheus"), "deadman"),
        (("alertname=Anything", "severity=info", "job=api"), "info"),
        (("alertname=Anything", "severity=page", "job=api"), "ticket"),
        (("alertname=Anything", "job=api"), "ticket"),
    ],
)
def test_amtool_routes_each_severity(amtool, labels, receiver) -> None:
    """critical pages, warning opens a ticket, info is a notice, Watchdog goes to the dead-man
    receiver, and an alert with an unknown or no severity still reaches the ticket receiver
    (the root receiver is never empty); a wrong expectation fails."""
    ok = run(amtool, "config", "routes", "test", f"--config.file={CONFIG}", f"--verify.receivers={receiver}", *labels)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.strip() == receiver
    wrong = run(amtool, "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=nobody", *labels)
    assert wrong.returncode == 1


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (("alertname=CircuitBreakerOpen", "severity=critical", "job=api", "team=payments"), "payments-pager"),
        (("alertname=DeadLetterInflow", "severity=warning", "job=api", "team=payments"), "payments-ticket"),
        (("alertname=DeadLetterInflow", "severity=info", "job=api", "team=payments"), "payments-ticket"),
        (("alertname=CircuitBreakerOpen", "severity=critical", "job=web", "team=search"), "search-pager"),
        (("alertname=CircuitBreakerOpen", "severity=critical", "job=batch", "team=unknown"), "pager"),
        (("alertname=Watchdog", "severity=info", "job=prometheus", "team=payments"), "deadman"),
    ],
)
def test_amtool_routes_by_team_from_one_config_field(amtool, tmp_path: Path, labels, receiver) -> None:
    """`team_routing` (one field: the label and each value's receivers) sends a team's pages and
    tickets to its own receivers; an unknown team falls through to the shared ones; Watchdog
    stays on the dead-man route."""
    config = RulesConfig.from_mapping(
        {
            "team_routing": {
                "label": "team",
                "teams": {
                    "payments": {"pager_url": "http://pay.example/page", "ticket_url": "http://pay.example/ticket"},
                    "search": {"pager_url": "http://search.example/page", "ticket_url": "http://search.example/t"},
                },
            }
        }
    )
    path = tmp_path / "alertmanager.yml"
    path.write_text(alertmanager(config), encoding="utf-8")
    assert run(amtool, "check-config", str(path)).returncode == 0
    ok = run(amtool, "config", "routes", "test", f"--config.file={path}", f"--verify.receivers={receiver}", *labels)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_config_uses_modern_matchers_and_explicit_timing() -> None:
    """Only `matchers` syntax; grouping by alertname and the service label; explicit timings;
    the Watchdog route's group_interval equals its repeat_interval, so the repeat holds."""
    config = load(CONFIG)
    text = CONFIG.read_text(encoding="utf-8")
    assert "match:" not in text
    assert "match_re:" not in text
    assert "source_match:" not in text
    route = config["route"]
    assert (route["receiver"], route["group_by"]) == ("ticket", ["alertname", "job"])
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("30s", "5m", "4h")
    assert route["routes"] == [
        {
            "matchers": ['alertname="Watchdog"'],
            "receiver": "deadman",
            "group_wait": "0s",
            "group_interval": "1m",
            "repeat_interval": "1m",
        },
        {"matchers": ['severity="critical"'], "receiver": "pager"},
        {"matchers": ['severity="warning"'], "receiver": "ticket"},
        {"matchers": ['severity="info"'], "receiver": "info"},
    ]
    assert [receiver["name"] for receiver in config["receivers"]] == ["ticket", "pager", "info", "deadman"]
    assert all(receiver["webhook_configs"] for receiver in config["receivers"])


def test_inhibition_mutes_causes_under_the_symptom_of_the_same_object() -> None:
    """The whole inhibition policy, written out: a critical symptom mutes its causes only where
    the object's labels are equal, and a critical alert mutes its own warning only for the same
    object (table, queue, pool, breaker, check, dependency)."""
    rules = load(CONFIG)["inhibit_rules"]

    def rule(source: str, targets: str, *equal: str) -> dict[str, Any]:
        return {
            "source_matchers": [f'alertname="{source}"', 'severity="critical"'],
            "target_matchers": [f'alertname=~"{targets}"'],
            "equal": ["job", *equal],
        }

    assert rules == [
        rule("ServiceDown", "OutboxRelayHeartbeatStale|ResilienceTelemetryAbsent|TargetDown"),
        rule("CircuitBreakerOpen", "DependencyFailureRatioHigh|HealthCheckFailureRatioHigh", "dependency"),
        rule("CircuitBreakerOpen", "CircuitBreakerFlapping|CircuitBreakerOpenTimeHigh", "instance", "breaker_name"),
        rule(
            "DatabasePoolTimeouts",
            "DatabasePoolCheckoutTimeouts|DatabasePoolSaturated|DatabasePoolWaiters",
            "db_client_connection_pool_name",
        ),
        rule("OutboxBacklogStale", "OutboxRelayStalled", "outbox_table"),
        rule("OutboxBacklogStale", "OutboxRelayHeartbeatStale"),
        rule("OutboxRelayHeartbeatStale", "OutboxRelayStalled"),
        rule("RecoveryBacklogNotDraining", "RecoveryJobFailing", "recovery_name"),
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity="warning"'],
            "equal": [
                "alertname",
                "job",
                "instance",
                "outbox_table",
                "queue",
                "db_client_connection_pool_name",
                "breaker_name",
                "check",
                "dependency",
                "retry_name",
                "component",
            ],
        },
    ]


def test_inhibition_equal_labels_exist_on_source_and_target_alerts() -> None:
    """Inhibition only works when both alerts carry every object label it compares: the
    promtool cases' exact labels of CircuitBreakerOpen and of the alerts it mutes all have them."""
    rules = load(CONFIG)["inhibit_rules"]
    fired: dict[str, list[dict]] = {}
    for check in alert_checks():
        for expected in check["exp_alerts"]:
            fired.setdefault(check["alertname"], []).append(expected["exp_labels"])
    for rule in rules[:-1]:
        source = rule["source_matchers"][0].split('"')[1]
        targets = rule["target_matchers"][0].split('"')[1].split("|")
        for name in (source, *targets):
            for labels in fired[name]:
                assert all(labels.get(key) for key in rule["equal"]), (rule, name, labels)
    assert "CircuitBreakerOpen" not in BREAKER_MUTES


def _post(url: str, alerts: list[dict[str, Any]]) -> None:
    body = json.dumps(
        [{"labels": labels, "annotations": {"summary": labels["alertname"]}} for labels in alerts]
    ).encode()
    request = urllib.request.Request(f"{url}/api/v2/alerts", data=body, method="POST")
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _wait(predicate: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.2)


@pytest.mark.slow
def test_a_real_alertmanager_applies_the_paging_policy(tmp_path: Path) -> None:
    """The generated config in a real Alertmanager: a critical OutboxBacklogStale for one table
    mutes the warning of that table only; ServiceDown of api mutes api's TargetDown, not web's;
    info and unknown severities reach a receiver; Watchdog repeats at deadman_repeat_interval
    (2s here) although every other group waits 1m between notifications."""
    tool("alertmanager", "prometheus-alertmanager")
    with Stack(tmp_path) as stack:
        hook = f"http://127.0.0.1:{stack.pager.port}"
        config = RulesConfig(
            pager_url=f"{hook}/pager",
            ticket_url=f"{hook}/ticket",
            info_url=f"{hook}/info",
            deadman_url=f"{hook}/deadman",
            group_wait="1s",
            group_interval="1m",
            repeat_interval="1h",
            deadman_repeat_interval="2s",
        )
        stack.pager.start()
        stack.start_alertmanager(yaml.safe_load(alertmanager(config)))
        sent = [
            {"alertname": "Watchdog", "severity": "info", "job": "prometheus"},
            {"alertname": "OutboxBacklogStale", "severity": "critical", "job": "api", "outbox_table": "outbox"},
            {"alertname": "OutboxBacklogStale", "severity": "warning", "job": "api", "outbox_table": "outbox"},
            {"alertname": "OutboxBacklogStale", "severity": "warning", "job": "api", "outbox_table": "audit_outbox"},
            {"alertname": "ServiceDown", "severity": "critical", "job": "api"},
            {"alertname": "TargetDown", "severity": "warning", "job": "api"},
            {"alertname": "TargetDown", "severity": "warning", "job": "web"},
            {"alertname": "DegradedModeActive", "severity": "info", "job": "api", "component": "receipts"},
            {"alertname": "SomethingNew", "severity": "page", "job": "api"},
        ]
        # the sources first: an inhibition mutes only while its source is known
        _post(stack.alertmanager_url, [a for a in sent if a["severity"] == "critical"])
        time.sleep(1)
        _post(stack.alertmanager_url, [a for a in sent if a["severity"] != "critical"])
        _wait(lambda: sum(p.receiver == "deadman" for p in stack.pager.pages) >= 4, 20)
        time.sleep(2)  # group_wait of the last groups: anything not muted has been sent by now
        pages = list(stack.pager.pages)
    delivered = sorted(
        {(p.receiver, p.alertname, p.labels.get("job", ""), p.labels.get("outbox_table", "")) for p in pages}
    )
    assert delivered == [
        ("deadman", "Watchdog", "prometheus", ""),
        ("info", "DegradedModeActive", "api", ""),
        ("pager", "OutboxBacklogStale", "api", "outbox"),
        ("pager", "ServiceDown", "api", ""),
        ("ticket", "OutboxBacklogStale", "api", "audit_outbox"),
        ("ticket", "SomethingNew", "api", ""),
        ("ticket", "TargetDown", "web", ""),
    ]
    assert sum(p.receiver == "deadman" for p in pages) >= 4
