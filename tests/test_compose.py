"""Checks of docker-compose.yml and the deploy/ configs it mounts.

No Docker engine runs on the project's machines, so the stack is checked statically: the
Compose Specification schema, mounted files, pinned images, healthchecks, start-up ordering,
and the cross-references between compose service names, the Prometheus config and the Grafana
datasources. Where promtool is installed (scripts/install-tools.sh) the Prometheus config is
also checked by promtool; under CI=true its absence is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "tests" / "data" / "compose-spec.json"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS = ROOT / "deploy" / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"

# Bind mounts of files that colleagues generate (alert rules, Alertmanager routing, dashboard
# JSON). They need not exist on this branch, but they must stay inside these two directories.
GENERATED_MOUNT_SOURCES = frozenset({"./alerts", "./alerts/alertmanager.yml", "./dashboards"})
GENERATED_DIRS = ("alerts", "dashboards")

# Services expected to run to completion (no healthcheck needed). The stack has none today.
ONE_SHOT_SERVICES: frozenset[str] = frozenset()

EXPECTED_SERVICES = {
    "app",
    "postgres",
    "rabbitmq",
    "minio",
    "otel-collector",
    "prometheus",
    "alertmanager",
    "grafana",
    "tempo",
    "loki",
}
PINNED_TAG = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9._/-]*):(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]*)$")


def in_ci() -> bool:
    """True when running under CI (CI=true), where nothing may skip."""
    return os.environ.get("CI", "").lower() == "true"


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse one YAML file."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The parsed docker-compose.yml."""
    return load_yaml(ROOT / "docker-compose.yml")


def bind_mounts(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(host source, container target) of every bind mount of a service, short or long syntax."""
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
            if source.startswith((".", "/")):
                yield source, target
        elif volume.get("type") == "bind":
            yield volume["source"], volume["target"]


def host_port(address: str) -> tuple[str, int]:
    """Split 'host:port'."""
    host, _, port = address.rpartition(":")
    return host, int(port)


def walk(node: object) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a nested structure of dicts and lists."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_compose_file_matches_the_compose_specification(compose: dict[str, Any]) -> None:
    """docker-compose.yml is valid against the Compose Specification JSON schema."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in jsonschema.Draft7Validator(schema).iter_errors(compose)
    ]
    assert errors == []


def test_stack_has_the_designed_services(compose: dict[str, Any]) -> None:
    """The stack runs exactly the designed services."""
    assert set(compose["services"]) == EXPECTED_SERVICES


def test_bind_mounted_sources_exist(compose: dict[str, Any]) -> None:
    """Every bind-mounted host path exists in the repository, except the generated alerts/ and
    dashboards/ paths, which are all listed in GENERATED_MOUNT_SOURCES."""
    sources = {source for service in compose["services"].values() for source, _ in bind_mounts(service)}
    generated = {source for source in sources if PurePosixPath(source).parts[0] in GENERATED_DIRS}
    assert generated == GENERATED_MOUNT_SOURCES
    missing = sorted(source for source in sources - generated if not (ROOT / source).exists())
    assert missing == []


def test_app_is_built_from_the_repository_dockerfile(compose: dict[str, Any]) -> None:
    """The app is built from ./Dockerfile (python:3.12-slim, `pip install .[all]`) and runs the
    reference service module."""
    app = compose["services"]["app"]
    assert app["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert app["command"] == ["python", "-m", "examples.orders"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line.split(None, 1) for line in dockerfile.splitlines() if line and not line.startswith("#")]
    bases = [args.strip() for word, *rest in instructions if word == "FROM" for args in rest]
    assert bases == ["python:3.12-slim"]
    assert 'RUN pip install ".[all]"' in dockerfile
    assert 'CMD ["python", "-m", "examples.orders"]' in dockerfile


def test_every_pulled_image_has_a_pinned_tag(compose: dict[str, Any]) -> None:
    """Every image pulled from a registry names an explicit version tag, never `latest` or none."""
    pulled = {name: service["image"] for name, service in compose["services"].items() if "build" not in service}
    assert set(pulled) == EXPECTED_SERVICES - {"app"}
    unpinned = {}
    for name, image in pulled.items():
        match = PINNED_TAG.match(image)
        if not match or match["tag"] == "latest" or not re.search(r"\d", match["tag"]):
            unpinned[name] = image
    assert unpinned == {}


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    """Every long-running service declares an enabled healthcheck with an exec-form test."""
    without = set()
    for name, service in compose["services"].items():
        if name in ONE_SHOT_SERVICES:
            continue
        check = service.get("healthcheck") or {}
        test = check.get("test")
        if check.get("disable") or not isinstance(test, list) or test[0] not in ("CMD", "CMD-SHELL"):
            without.add(name)
    assert without == set()


def test_dependencies_wait_for_health(compose: dict[str, Any]) -> None:
    """Start-up order: dependencies use the long form with a condition, service_healthy only
    points at services that have a healthcheck, and the graph is the designed one."""
    graph = {
        name: {dep: spec["condition"] for dep, spec in (service.get("depends_on") or {}).items()}
        for name, service in compose["services"].items()
    }
    assert graph == {
        "app": {
            "postgres": "service_healthy",
            "rabbitmq": "service_healthy",
            "minio": "service_healthy",
            # The collector image has no HTTP probe (FROM scratch); OTLP exporters retry anyway.
            "otel-collector": "service_started",
        },
        "postgres": {},
        "rabbitmq": {},
        "minio": {},
        "otel-collector": {"prometheus": "service_healthy", "tempo": "service_healthy", "loki": "service_healthy"},
        "prometheus": {"alertmanager": "service_healthy"},
        "alertmanager": {},
        "grafana": {"prometheus": "service_healthy", "tempo": "service_healthy", "loki": "service_healthy"},
        "tempo": {},
        "loki": {},
    }
    for deps in graph.values():
        for dep, condition in deps.items():
            if condition == "service_healthy":
                assert "healthcheck" in compose["services"][dep], dep


def test_app_environment_points_at_compose_services(compose: dict[str, Any]) -> None:
    """The app exports OTLP/HTTP to the collector gateway and reaches postgres, rabbitmq and
    minio by their compose service names."""
    env = compose["services"]["app"]["environment"]
    assert env["OTEL_SERVICE_NAME"] == "orders"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    gateway = load_yaml(ROOT / "collector" / "gateway.yaml")
    assert host_port(gateway["receivers"]["otlp"]["protocols"]["http"]["endpoint"])[1] == 4318
    hosts = {
        key: urlsplit(env[key]).hostname
        for key in ("OTEL_EXPORTER_OTLP_ENDPOINT", "DATABASE_URL", "AMQP_URL", "S3_ENDPOINT_URL")
    }
    assert hosts == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "otel-collector",
        "DATABASE_URL": "postgres",
        "AMQP_URL": "rabbitmq",
        "S3_ENDPOINT_URL": "minio",
    }
    postgres = compose["services"]["postgres"]["environment"]
    database = urlsplit(env["DATABASE_URL"])
    assert (database.username, database.password, database.path.lstrip("/")) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )
    rabbit = compose["services"]["rabbitmq"]["environment"]
    amqp = urlsplit(env["AMQP_URL"])
    assert (amqp.username, amqp.password) == (rabbit["RABBITMQ_DEFAULT_USER"], rabbit["RABBITMQ_DEFAULT_PASS"])
    minio = compose["services"]["minio"]["environment"]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )


def test_prometheus_flags_and_mounts(compose: dict[str, Any]) -> None:
    """Prometheus accepts remote write and stores exemplars, and mounts its config and the
    alerts/ directory where the config's rule_files glob looks."""
    prometheus = compose["services"]["prometheus"]
    assert {"--web.enable-remote-write-receiver", "--enable-feature=exemplar-storage"} <= set(prometheus["command"])
    mounts = dict(bind_mounts(prometheus))
    assert mounts == {
        "./deploy/prometheus/prometheus.yml": "/etc/prometheus/prometheus.yml",
        "./alerts": "/etc/prometheus/rules",
    }
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


def test_prometheus_rules_and_alertmanager_match_compose(compose: dict[str, Any]) -> None:
    """rule_files globs the mounted alerts/ directory for *.rules.yml, and alerts go to the
    alertmanager compose service, which loads alerts/alertmanager.yml."""
    config = load_yaml(PROMETHEUS_CONFIG)
    assert config["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]
    rules_mount = dict(bind_mounts(compose["services"]["prometheus"]))["./alerts"]
    assert all(str(PurePosixPath(glob).parent) == rules_mount for glob in config["rule_files"])

    targets = [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    assert host_port(targets[0])[0] in compose["services"]
    alertmanager = compose["services"]["alertmanager"]
    assert dict(bind_mounts(alertmanager)) == {"./alerts/alertmanager.yml": "/etc/alertmanager/alertmanager.yml"}
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]


def test_prometheus_scrapes_compose_services_identified_by_job(compose: dict[str, Any]) -> None:
    """Every scrape target is a compose service (or Prometheus itself) and is identified by its
    job alone (no extra identity label, which the OTLP path would not produce); the app's job
    equals its OTEL_SERVICE_NAME, the name the OTLP path turns into `job`."""
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {}
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            assert "labels" not in static, job["job_name"]
            for target in static["targets"]:
                host, _ = host_port(target)
                assert host in compose["services"] or host == "localhost", target
                jobs[host] = job["job_name"]
    assert jobs == {
        "app": compose["services"]["app"]["environment"]["OTEL_SERVICE_NAME"],
        "otel-collector": "otel-collector",
        "localhost": "prometheus",
        "alertmanager": "alertmanager",
        "tempo": "tempo",
        "loki": "loki",
    }
    gateway = load_yaml(ROOT / "collector" / "gateway.yaml")
    reader = gateway["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    collector_targets = [
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
        if target.startswith("otel-collector:")
    ]
    assert collector_targets == [f"otel-collector:{reader['port']}"]


def test_prometheus_config_passes_promtool() -> None:
    """`promtool check config` accepts the Prometheus config (promtool from install-tools.sh)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if in_ci():
            pytest.fail("promtool is missing under CI=true; run scripts/install-tools.sh")
        pytest.skip("promtool not installed; run scripts/install-tools.sh")
    result = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(PROMETHEUS_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_datasources_have_fixed_uids_and_valid_links(compose: dict[str, Any]) -> None:
    """Datasources have the fixed uids prometheus, tempo and loki, point at the compose services,
    and every datasourceUid in a link names one of them."""
    config = load_yaml(DATASOURCES)
    sources = {ds["uid"]: ds for ds in config["datasources"]}
    assert {uid: (ds["type"], ds["url"]) for uid, ds in sources.items()} == {
        "prometheus": ("prometheus", "http://prometheus:9090"),
        "tempo": ("tempo", "http://tempo:3200"),
        "loki": ("loki", "http://loki:3100"),
    }
    for ds in sources.values():
        assert urlsplit(ds["url"]).hostname in compose["services"]
    referenced = {value for key, value in walk(config) if key == "datasourceUid"}
    assert referenced and referenced <= set(sources)


def test_grafana_correlation_links() -> None:
    """Exemplars (label trace_id) open Tempo, Tempo spans open their Loki lines by trace id, and
    Loki lines open Tempo by trace id."""
    sources = {ds["uid"]: ds for ds in load_yaml(DATASOURCES)["datasources"]}
    assert sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": "tempo"}
    ]
    to_logs = sources["tempo"]["jsonData"]["tracesToLogsV2"]
    assert (to_logs["datasourceUid"], to_logs["filterByTraceID"]) == ("loki", True)
    assert "__trace.traceId" in to_logs["query"]
    derived = sources["loki"]["jsonData"]["derivedFields"]
    assert [(field["name"], field["datasourceUid"]) for field in derived] == [
        ("trace_id", "tempo"),
        ("trace_id_in_line", "tempo"),
    ]
    assert all(field["url"] == "$${__value.raw}" for field in derived)
    sample_line = '{"event": "retry exhausted", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}'
    match = re.search(derived[1]["matcherRegex"], sample_line)
    assert match and match.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_grafana_provisions_dashboards_from_the_mounted_folder(compose: dict[str, Any]) -> None:
    """The dashboard provider reads the folder where compose mounts ./dashboards, and the
    provisioning directory itself is mounted from deploy/grafana/provisioning."""
    mounts = dict(bind_mounts(compose["services"]["grafana"]))
    assert mounts == {
        "./deploy/grafana/provisioning": "/etc/grafana/provisioning",
        "./dashboards": "/var/lib/grafana/dashboards",
    }
    providers = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert [(p["type"], p["options"]["path"], p["editable"]) for p in providers] == [
        ("file", mounts["./dashboards"], False)
    ]


def _otlp_paths_of_the_app(tmp_path: Path, metrics_exporter: str) -> set[str]:
    """Run the reference service with docker-compose's OTEL_* environment (endpoint pointed at a
    loopback receiver, short intervals) and return the OTLP paths it posted to."""
    import time

    from examples.drill.service import Service
    from examples.drill.stack import free_port, serve_posts, stop_server

    environment = load_yaml(ROOT / "docker-compose.yml")["services"]["app"]["environment"]
    paths: set[str] = set()
    server = serve_posts(free_port(), lambda path, _body: paths.add(path), "application/x-protobuf")
    otel = {key: str(value) for key, value in environment.items() if key.startswith("OTEL_")}
    service = Service(
        tmp_path,
        env={
            **otel,
            "OTEL_METRICS_EXPORTER": metrics_exporter,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
            "OTEL_METRIC_EXPORT_INTERVAL": "200",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_BLRP_SCHEDULE_DELAY": "200",
        },
    )
    tmp_path.mkdir(parents=True)
    try:
        service.start()
        service.call("POST", "/orders", {"item": "book", "quantity": 1})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not {"/v1/traces", "/v1/logs"} <= paths:
            time.sleep(0.2)
        time.sleep(1.0)  # five metric export intervals
    finally:
        service.stop()
        stop_server(server)
    return paths


def test_compose_app_pushes_traces_and_logs_but_no_metrics(tmp_path: Path) -> None:
    """With docker-compose's environment the app exports traces and logs over OTLP and no
    metrics (Prometheus scrapes them), so no series reaches Prometheus by both paths; the
    documented switch (OTEL_METRICS_EXPORTER=otlp) turns the OTLP metrics on."""
    assert _otlp_paths_of_the_app(tmp_path / "scrape", "none") == {"/v1/traces", "/v1/logs"}
    assert _otlp_paths_of_the_app(tmp_path / "push", "otlp") == {"/v1/traces", "/v1/logs", "/v1/metrics"}
