"""The shipped alert rules under several workers: series carry a ``worker`` label.

A breaker open in one of two workers (the other worker's breaker closed) must page
``CircuitBreakerOpen``, and one worker's pool saturated (the other idle) must raise
``DatabasePoolSaturated``; real promtool on the generated rules file (annotations dropped, so the
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
    labels = 'job="orders", instance="pod-1", breaker_name="payments"'
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
      - series: '{series % ('job="orders", instance="pod-1", breaker_name="stock"', "closed", "101")}'
        values: '1x40'
      - series: '{series % ('job="orders", instance="pod-1", breaker_name="stock"', "closed", "102")}'
        values: '1x40'
    alert_rule_test:
      - eval_time: 6m
        alertname: CircuitBreakerOpen
        exp_alerts:
          - exp_labels:
              severity: critical
              job: orders
              instance: pod-1
              breaker_name: payments
              dependency: payments
""",
        encoding="utf-8",
    )
    assert promtool_test(promtool, tmp_path, "workers.test.yml") == ""


def promtool_test(promtool: str, directory: Path, name: str) -> str:
    """``promtool test rules``: empty when it passes, else its output."""
    done = subprocess.run([promtool, "test", "rules", name], cwd=directory, capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else done.stdout + done.stderr


def test_one_saturated_worker_pool_warns(tmp_path: Path) -> None:
    """Worker 101 uses all 4 connections of its pool, worker 102 none of its 4: the pod is half
    used, but worker 101's requests wait, so DatabasePoolSaturated fires."""
    promtool = tool("promtool")
    without_annotations(ROOT / "alerts" / "pool.rules.yml", tmp_path / "pool.rules.yml")
    pool = 'job="orders", instance="pod-1", db_client_connection_pool_name="main"'
    (tmp_path / "workers.test.yml").write_text(
        f"""
rule_files: [pool.rules.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'db_client_connection_count{{{pool}, db_client_connection_state="used", worker="101"}}'
        values: '4x40'
      - series: 'db_client_connection_count{{{pool}, db_client_connection_state="idle", worker="101"}}'
        values: '0x40'
      - series: 'db_client_connection_max{{{pool}, worker="101"}}'
        values: '4x40'
      - series: 'db_client_connection_count{{{pool}, db_client_connection_state="used", worker="102"}}'
        values: '0x40'
      - series: 'db_client_connection_count{{{pool}, db_client_connection_state="idle", worker="102"}}'
        values: '2x40'
      - series: 'db_client_connection_max{{{pool}, worker="102"}}'
        values: '4x40'
    promql_expr_test:
      - expr: ALERTS{{alertname="DatabasePoolSaturated", alertstate="firing"}}
        eval_time: 6m
        exp_samples:
          - labels: 'ALERTS{{alertname="DatabasePoolSaturated", alertstate="firing", severity="warning", job="orders", instance="pod-1", db_client_connection_pool_name="main"}}'
            value: 1
    alert_rule_test:
      - eval_time: 6m
        alertname: DatabasePoolSaturated
        exp_alerts:
          - exp_labels:
              severity: warning
              job: orders
              instance: pod-1
              db_client_connection_pool_name: main
""",
        encoding="utf-8",
    )
    assert promtool_test(promtool, tmp_path, "workers.test.yml") == ""
