"""Beyond one Prometheus: the shipped rules and dashboards, unchanged, on VictoriaMetrics.

vmagent scrapes two instances of the reference service and remote-writes to VictoriaMetrics
single-node; vmalert evaluates the drill's rendering of the shipped rules (the committed
thresholds with time compressed) against it and pages the real Alertmanager for each drill
fault; every dashboard query then returns data from VictoriaMetrics; and a Prometheus
``remote_write`` lands there too, as it would in Mimir or Thanos. All binaries come from
Debian's ``victoria-metrics`` package (``scripts/install-tools.sh``).
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typing_extensions import Self

from examples.drill.__main__ import drill_config, run_scenario, scenarios, write_rules
from examples.drill.report import Timeline
from examples.drill.service import Service, Traffic
from examples.drill.stack import Stack, free_port, tools_available
from telemetry import catalog
from telemetry.dashboards import expressions, substitute
from tests.conftest import require

# Four drill scenarios on two instances: longer than the suite-wide 300 s per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BINARIES = ("victoria-metrics", "vmagent", "vmalert")
JOB = "orders"


class VictoriaStack(Stack):
    """VictoriaMetrics single-node, vmagent and vmalert, with the drill's Alertmanager and
    pager. ``query`` and ``alerts`` ask VictoriaMetrics and vmalert (same HTTP API as
    Prometheus), so the drill's scenario runner works unchanged."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.vm_port, self.vmagent_port, self.vmalert_port = free_port(), free_port(), free_port()

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.vm_port}"

    @property
    def vmalert_url(self) -> str:
        return f"http://127.0.0.1:{self.vmalert_port}"

    def start_victoriametrics(self) -> None:
        self._spawn(
            "victoria-metrics",
            [
                "victoria-metrics",
                f"-storageDataPath={self.workdir / 'vm-data'}",
                f"-httpListenAddr=127.0.0.1:{self.vm_port}",
                "-retentionPeriod=1d",
                # Serve the newest samples at once (default: hide the last 30s), as a drill needs.
                "-search.latencyOffset=0s",
                "-search.disableCache",
                "-loggerLevel=WARN",
            ],
        )
        self.wait_ready(f"{self.prometheus_url}/health")

    def start_vmagent(self, targets: list[str], identity: dict[str, str]) -> None:
        config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "static_configs": [{"targets": targets, **({"labels": identity} if identity else {})}],
                }
            ],
        }
        path = self.workdir / "vmagent.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self._spawn(
            "vmagent",
            [
                "vmagent",
                f"-promscrape.config={path}",
                f"-remoteWrite.url={self.prometheus_url}/api/v1/write",
                f"-remoteWrite.tmpDataPath={self.workdir / 'vmagent-data'}",
                f"-httpListenAddr=127.0.0.1:{self.vmagent_port}",
                "-loggerLevel=WARN",
            ],
        )
        self.wait_ready(f"http://127.0.0.1:{self.vmagent_port}/health")

    def start_vmalert(self, rule_files: list[Path]) -> None:
        self._spawn(
            "vmalert",
            [
                "vmalert",
                *(f"-rule={path}" for path in rule_files),
                f"-datasource.url={self.prometheus_url}",
                f"-remoteWrite.url={self.prometheus_url}",
                f"-remoteRead.url={self.prometheus_url}",
                f"-notifier.url={self.alertmanager_url}",
                "-evaluationInterval=1s",
                f"-httpListenAddr=127.0.0.1:{self.vmalert_port}",
                "-loggerLevel=WARN",
            ],
        )
        self.wait_ready(f"{self.vmalert_url}/health")

    def alerts(self) -> list[dict[str, Any]]:
        import json
        import urllib.request

        with urllib.request.urlopen(f"{self.vmalert_url}/api/v1/alerts", timeout=5) as response:
            return list(json.loads(response.read())["data"]["alerts"])

    def start_prometheus_remote_write(self, targets: list[str], job: str) -> None:
        """A plain Prometheus that scrapes and ``remote_write``s to VictoriaMetrics."""
        config = {
            "global": {"scrape_interval": "1s"},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": targets}]}],
            "remote_write": [{"url": f"{self.prometheus_url}/api/v1/write"}],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        binary = shutil.which("prometheus")
        assert binary is not None
        self._spawn(
            "prometheus",
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={self.workdir / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
                "--log.level=warn",
            ],
        )
        self.wait_ready(f"http://127.0.0.1:{self.prometheus_port}/-/ready")


class Fleet:
    """Both instances as one service for the drill's scenario runner: a fault is injected into
    every instance (a dependency outage hits them all; the service-level ratio alerts aggregate
    over instances), everything else asks the first one."""

    def __init__(self, services: list[Service]) -> None:
        self.services = services

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        results = [service.set_faults(**faults) for service in self.services]
        return results[0]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.services[0], name)


class Probes:
    """The orchestrator's readiness probe on every instance, twice a second (the drill's
    traffic sends it too rarely for the health panels' rates to move)."""

    def __init__(self, services: list[Service]) -> None:
        self.services = services
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for service in self.services:
                with contextlib.suppress(OSError):
                    service.call("GET", "/health/ready")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _wait(predicate: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.5)
    return None


def test_rules_and_dashboards_run_unchanged_on_victoriametrics(tmp_path: Path) -> None:
    """Two instances scraped by vmagent into VictoriaMetrics: vmalert pages the real
    Alertmanager for every drill fault and each page resolves; the alerts carry each
    instance's identity; every dashboard query returns data; a Prometheus remote_write lands
    in the same VictoriaMetrics."""
    require(all(shutil.which(b) for b in BINARIES), "victoria-metrics, vmagent, vmalert (scripts/install-tools.sh)")
    require(tools_available(), "prometheus and alertmanager (scripts/install-tools.sh)")
    timeline = Timeline()
    with VictoriaStack(tmp_path / "stack") as stack:
        stack.pager.start()
        rule_files = write_rules(stack, tmp_path / "rules", scale=1.0)  # starts Alertmanager
        cfg = drill_config(stack.pager.port, scale=1.0)
        identity = {} if cfg.service_label == "job" else {cfg.service_label: JOB}
        services = [Service(tmp_path / f"orders-{i}") for i in range(2)]
        for service in services:
            service.workdir.mkdir(parents=True)
        try:
            for service in services:
                service.start()
            targets = [f"127.0.0.1:{s.port}" for s in services]
            stack.start_victoriametrics()
            stack.start_vmagent(targets, identity)
            stack.start_vmalert(rule_files)
            traffic = [Traffic(s) for s in services]
            for t in traffic:
                t.start()
            up = f'up{{job="{JOB}"}} == 1'
            assert _wait(lambda: len(stack.query(up)) == len(services), 60), "vmagent did not scrape both instances"
            assert sorted(r["metric"]["instance"] for r in stack.query(up)) == sorted(targets)
            time.sleep(5)
            fleet: Any = Fleet(services)
            with Probes(services):
                outcomes = [
                    run_scenario(stack, fleet, traffic[0], scenario=scenario, timeline=timeline, timeout=90)
                    for scenario in scenarios()
                ]
            for t in traffic:
                t.stop()
            assert [(o.alertname, o.page is not None, o.resolved is not None) for o in outcomes] == [
                (s.alertname, True, True) for s in scenarios()
            ]
            for outcome in outcomes:
                assert outcome.page is not None
                assert outcome.page.labels.get(cfg.service_label) == JOB, outcome.alertname
                assert outcome.page.labels.get("instance", targets[0]) in targets, outcome.alertname

            rate_interval = f"{int(time.time() - timeline.started) + 60}s"
            empty = [
                expr
                for expr in expressions()
                if not stack.query(substitute(_with_nan_visible(expr), rate_interval=rate_interval))
            ]
            assert empty == [], "dashboard queries without data on VictoriaMetrics"

            stack.start_prometheus_remote_write(targets, job="orders-remote-write")
            written = f'count by (instance) ({catalog.TELEMETRY_INFO.prom}{{job="orders-remote-write"}})'
            assert _wait(lambda: len(stack.query(written)) == len(services), 60), "remote_write did not arrive"
            info = stack.query(f'{catalog.TELEMETRY_INFO.prom}{{job="orders-remote-write"}}')
            assert {r["metric"]["instance"] for r in info} == set(targets)
        finally:
            for service in services:
                service.stop()


def _with_nan_visible(expr: str) -> str:
    """VictoriaMetrics drops NaN results where Prometheus returns them: a latency quantile over
    buckets that exist but saw no observation in the window (a bulkhead that never queued) is
    NaN, so on VictoriaMetrics the quantile's own buckets are what shows that the panel has data."""
    if expr.startswith("histogram_quantile("):
        return expr[expr.index(",") + 1 : -1].strip()
    return expr
