"""Aggregations right for what they aggregate, evaluated by promtool on 20 instances.

Every replica reads the outbox table and the dead-letter queue itself, so those gauges are the
same reading 20 times (the panel must show it once, not 20 times); a breaker's time-in-state
rate is a per-instance share (the panel averages it, never sums it to 2000%); a pool is per
instance (the fullest instance's share of its own maximum is what saturates).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from dashboard_support import substitute

from telemetry import dashboards
from telemetry.rules import RulesConfig
from tests.conftest import require

if TYPE_CHECKING:
    from pathlib import Path

INSTANCES = [f"10.0.0.{n}:8000" for n in range(1, 21)]
CONFIG = RulesConfig.from_mapping({"service_label": "job"})


def _expr(uid: str, title: str, index: int = 0) -> str:
    for panel in dashboards.dashboards(CONFIG)[uid]["panels"]:
        if panel.get("title") == title:
            return substitute(panel["targets"][index]["expr"])
    raise AssertionError(title)


def _series(name: str, labels: str, values: str) -> list[dict[str, str]]:
    return [
        {"series": f'{name}{{job="api", instance="{instance}", {labels}}}', "values": values} for instance in INSTANCES
    ]


def _promtool_test(tmp_path: Path, series: list[dict[str, str]], cases: list[dict[str, Any]]) -> str:
    promtool = shutil.which("promtool")
    require(promtool is not None, "promtool")
    assert promtool is not None
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": cases}],
    }
    path = tmp_path / "aggregation.test.yml"
    path.write_text(json.dumps(test), encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    return result.stdout + result.stderr


def test_shared_table_gauges_time_in_state_and_pools_at_20_instances(models, tmp_path) -> None:
    """20 replicas reporting a backlog of 5 rows show 5; 20 breakers closed all the time show
    100% closed, also when one instance runs four workers (four seconds of breaker time a second)
    and another's breaker was open half the time; one pool at 10 of 10 among 19 at 5 of 10 shows
    100%; a DLQ of 7 shows 7."""
    series = [
        *_series("resilience_outbox_rows", 'outbox_table="outbox", status="pending"', "5x10"),
        *_series("resilience_outbox_oldest_pending_age_seconds", 'outbox_table="outbox"', "300x10"),
        *_series("resilience_circuit_time_in_state_seconds_total", 'breaker_name="s3", state="closed"', "0+60x10"),
        *_series("resilience_circuit_time_in_state_seconds_total", 'breaker_name="s3", state="open"', "0x10"),
        *_series("resilience_circuit_time_in_state_seconds_total", 'breaker_name="s3", state="half_open"', "0x10"),
        *_series("resilience_dlq_depth", 'queue="orders.dlq"', "7x10"),
        *_series("db_client_connection_max", 'db_client_connection_pool_name="main"', "10x10"),
    ]
    for instance in INSTANCES:
        used = "10x10" if instance == INSTANCES[0] else "5x10"
        series.append(
            {
                "series": f'db_client_connection_count{{job="api", instance="{instance}", '
                f'db_client_connection_pool_name="main", db_client_connection_state="used"}}',
                "values": used,
            }
        )
    # a second breaker: one instance with four workers (closed), one open half of the time
    series += [
        {
            "series": f'resilience_circuit_time_in_state_seconds_total{{job="api", instance="{instance}", '
            f'breaker_name="db", state="{state}"}}',
            "values": values,
        }
        for instance, state, values in (
            (INSTANCES[0], "closed", "0+240x10"),
            (INSTANCES[0], "open", "0x10"),
            (INSTANCES[1], "closed", "0+30x10"),
            (INSTANCES[1], "open", "0+30x10"),
        )
    ]
    at = "10m"
    cases = [
        {
            "expr": _expr("rt-outbox-dlq", "Backlog"),
            "eval_time": at,
            "exp_samples": [{"labels": '{job="api", outbox_table="outbox", status="pending"}', "value": 5}],
        },
        {
            "expr": _expr("rt-overview", "Outbox oldest pending"),
            "eval_time": at,
            "exp_samples": [{"labels": '{job="api", outbox_table="outbox"}', "value": 300}],
        },
        {
            "expr": _expr("rt-breakers", "Time in state"),
            "eval_time": at,
            "exp_samples": [
                {"labels": '{job="api", breaker_name="db", state="closed"}', "value": 0.75},
                {"labels": '{job="api", breaker_name="db", state="open"}', "value": 0.25},
                {"labels": '{job="api", breaker_name="s3", state="closed"}', "value": 1},
                {"labels": '{job="api", breaker_name="s3", state="half_open"}', "value": 0},
                {"labels": '{job="api", breaker_name="s3", state="open"}', "value": 0},
            ],
        },
        {
            "expr": _expr("rt-outbox-dlq", "DLQ depth"),
            "eval_time": at,
            "exp_samples": [{"labels": '{job="api", queue="orders.dlq"}', "value": 7}],
        },
        {
            "expr": _expr("rt-overview", "Pools, % of max"),
            "eval_time": at,
            "exp_samples": [{"labels": '{job="api", db_client_connection_pool_name="main"}', "value": 1}],
        },
        {
            "expr": _expr("rt-pools", "Used vs max"),
            "eval_time": at,
            "exp_samples": [{"labels": '{job="api", db_client_connection_pool_name="main"}', "value": 105}],
        },
    ]
    output = _promtool_test(tmp_path, series, cases)
    assert "SUCCESS" in output, output


def test_the_check_fails_on_a_summed_shared_gauge(models, tmp_path) -> None:
    """Not vacuous: the old summed backlog query reads 20 times the real backlog and fails."""
    series = _series("resilience_outbox_rows", 'outbox_table="outbox", status="pending"', "5x10")
    summed = 'sum by (job, outbox_table, status) (resilience_outbox_rows{job=~".*"})'
    cases = [
        {
            "expr": summed,
            "eval_time": "10m",
            "exp_samples": [{"labels": '{job="api", outbox_table="outbox", status="pending"}', "value": 5}],
        }
    ]
    output = _promtool_test(tmp_path, series, cases)
    assert "FAILED" in output, output
    assert 'got: {job="api", outbox_table="outbox", status="pending"} 1E+02' in output, output
