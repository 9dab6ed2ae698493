"""The shipped alert rules under several workers: series carry a ``worker`` label.

A breaker open in one of two workers (the other worker's breaker closed) must page
``CircuitBreakerOpen``; real promtool on the generated rules file (annotations dropped, so the
test compares labels only).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.alerts.support import tool

ROOT = Path(__file__).resolve().parents[2]


def without_annotations(source: Path, target: Path) -> None:
    rules = yaml.safe_load(source.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    target.write_text(yaml.safe_dump(rules), encoding="utf-8")


def test_breaker_open_in_one_worker_pages(tmp_path: Path) -> None:
    """Worker 102's breaker stays open while worker 101's is closed: CircuitBreakerOpen fires
    for the breaker, without a worker label; with both closed it does not."""
    promtool = tool("promtool")
    without_annotations(ROOT / "alerts" / "breaker.rules.yml", tmp_path / "breaker.rules.yml")
    labels = 'service="orders", instance="pod-1", breaker_name="payments"'
    series = 'resilience_circuit_state{%s, state="%s", worker="%s"}'
    (tmp_path / "workers.test.yml").write_text(
        f"""
rule_files: [breaker.rules.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: '{series % (labels, "closed", "101")}'
        values: '1x40'
      - series: '{series % (labels, "open", "101")}'
        values: '0x40'
      - series: '{series % (labels, "closed", "102")}'
        values: '0x40'
      - series: '{series % (labels, "open", "102")}'
        values: '1x40'
      - series: '{series % ('service="orders", instance="pod-1", breaker_name="stock"', "closed", "101")}'
        values: '1x40'
      - series: '{series % ('service="orders", instance="pod-1", breaker_name="stock"', "closed", "102")}'
        values: '1x40'
    alert_rule_test:
      - eval_time: 6m
        alertname: CircuitBreakerOpen
        exp_alerts:
          - exp_labels:
              severity: critical
              service: orders
              instance: pod-1
              breaker_name: payments
              dependency: payments
""",
        encoding="utf-8",
    )
    done = subprocess.run(
        [promtool, "test", "rules", "workers.test.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
