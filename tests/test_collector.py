"""Structural checks of the OpenTelemetry Collector configs in collector/.

No otelcol binary is installable on the project's machines, so these tests read the YAML and
check what `otelcol-contrib validate` would reject (undefined or unused components) plus the
project's own rules: memory_limiter first, span metrics computed before tail sampling,
trace-ID load balancing, pinned image version.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COLLECTOR_DIR = ROOT / "collector"
CONFIG_NAMES = ("agent", "gateway")
IMAGE_REPOSITORY = "otel/opentelemetry-collector-contrib"
SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")
ENV_REFERENCE = re.compile(r"\$\{[^}]*\}")
ENV_REFERENCE_ALLOWED = re.compile(r"^\$\{env:[A-Z_][A-Z0-9_]*(:-[^}]*)?\}$")


def load_config(name: str) -> dict[str, Any]:
    """Parse collector/<name>.yaml."""
    with (COLLECTOR_DIR / f"{name}.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def pipelines(config: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """The service.pipelines mapping, with absent lists as empty lists."""
    return {
        name: {key: list(body.get(key) or []) for key in ("receivers", "processors", "exporters")}
        for name, body in config["service"]["pipelines"].items()
    }


def defined(config: dict[str, Any], section: str) -> set[str]:
    """Component ids defined in a top-level section (receivers, processors, ...)."""
    return set(config.get(section) or {})


def env_default(value: str) -> str:
    """The default of a `${env:NAME:-default}` reference, or the value itself when it has none."""
    match = re.fullmatch(r"\$\{env:[A-Z_][A-Z0-9_]*:-([^}]*)\}", value)
    return match.group(1) if match else value


def header_image(name: str) -> str:
    """The pinned image named in the `# Image:` line of a config's comment header."""
    text = (COLLECTOR_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    match = re.search(r"^#\s*Image:\s*(\S+)\s*$", text, flags=re.MULTILINE)
    assert match, f"collector/{name}.yaml has no '# Image: <repository>:<tag>' header line"
    return match.group(1)


def pipelines_exporting_to(config: dict[str, Any], component: str) -> set[str]:
    """Names of pipelines that list `component` among their exporters."""
    return {name for name, body in pipelines(config).items() if component in body["exporters"]}


def pipelines_receiving_from(config: dict[str, Any], component: str) -> set[str]:
    """Names of pipelines that list `component` among their receivers."""
    return {name for name, body in pipelines(config).items() if component in body["receivers"]}


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_referenced_component_is_defined(name: str) -> None:
    """Every receiver, processor, exporter and extension a pipeline or the service names is defined
    in its section; connectors count as receivers and as exporters."""
    config = load_config(name)
    connectors = defined(config, "connectors")
    undefined: set[tuple[str, str, str]] = set()
    for pipeline, body in pipelines(config).items():
        for receiver in body["receivers"]:
            if receiver not in defined(config, "receivers") | connectors:
                undefined.add((pipeline, "receivers", receiver))
        for processor in body["processors"]:
            if processor not in defined(config, "processors"):
                undefined.add((pipeline, "processors", processor))
        for exporter in body["exporters"]:
            if exporter not in defined(config, "exporters") | connectors:
                undefined.add((pipeline, "exporters", exporter))
    for extension in config["service"].get("extensions") or []:
        if extension not in defined(config, "extensions"):
            undefined.add(("service", "extensions", extension))
    assert undefined == set()


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_defined_component_is_used(name: str) -> None:
    """No component is defined but left out of every pipeline (dead configuration)."""
    config = load_config(name)
    used: dict[str, set[str]] = {section: set() for section in SECTIONS}
    for body in pipelines(config).values():
        used["receivers"] |= set(body["receivers"])
        used["processors"] |= set(body["processors"])
        used["exporters"] |= set(body["exporters"])
    used["connectors"] = (used["receivers"] | used["exporters"]) & defined(config, "connectors")
    used["receivers"] -= used["connectors"]
    used["exporters"] -= used["connectors"]
    used["extensions"] = set(config["service"].get("extensions") or [])
    assert used == {section: defined(config, section) for section in SECTIONS}


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_connectors_join_two_different_pipelines(name: str) -> None:
    """Each connector is the exporter of one pipeline and the receiver of another."""
    config = load_config(name)
    links = {
        connector: (
            pipelines_exporting_to(config, connector),
            pipelines_receiving_from(config, connector),
        )
        for connector in defined(config, "connectors")
    }
    broken = {
        connector: (sources, sinks)
        for connector, (sources, sinks) in links.items()
        if not sources or not sinks or sources & sinks
    }
    assert broken == {}


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_memory_limiter_is_first_in_every_pipeline(name: str) -> None:
    """memory_limiter is the first processor of every pipeline."""
    config = load_config(name)
    firsts = {pipeline: (body["processors"] or [None])[0] for pipeline, body in pipelines(config).items()}
    assert firsts == dict.fromkeys(firsts, "memory_limiter")


def test_gateway_pipelines_have_the_designed_shape() -> None:
    """The gateway splits traces into a 100% span-metrics path and a tail-sampled Tempo path and
    exports metrics to Prometheus remote write and logs to Loki."""
    assert pipelines(load_config("gateway")) == {
        "traces": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "resource/collector_id"],
            "exporters": ["spanmetrics", "forward/sampling"],
        },
        "traces/sampled": {
            "receivers": ["forward/sampling"],
            "processors": ["memory_limiter", "tail_sampling", "batch"],
            "exporters": ["otlp/tempo"],
        },
        "metrics": {
            "receivers": ["otlp", "spanmetrics"],
            "processors": ["memory_limiter", "batch"],
            "exporters": ["prometheusremotewrite"],
        },
        "logs": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", "batch"],
            "exporters": ["otlphttp/loki"],
        },
    }


def test_span_metrics_are_computed_before_tail_sampling() -> None:
    """The spanmetrics connector is fed by pipelines without tail_sampling, and every
    tail-sampling pipeline is reached only through a connector fed by such a pipeline, so
    RED metrics count every span, not just the sampled ones."""
    config = load_config("gateway")
    body = pipelines(config)
    feeds_spanmetrics = pipelines_exporting_to(config, "spanmetrics")
    sampling = {name for name, pipe in body.items() if "tail_sampling" in pipe["processors"]}

    assert feeds_spanmetrics and sampling
    assert {name for name in feeds_spanmetrics if "tail_sampling" in body[name]["processors"]} == set()
    for name in sampling:
        upstream_connectors = set(body[name]["receivers"]) & defined(config, "connectors")
        assert upstream_connectors, f"{name} must receive from a connector, not from OTLP directly"
        upstream = set().union(*(pipelines_exporting_to(config, c) for c in upstream_connectors))
        assert upstream <= feeds_spanmetrics
    # The span metrics end up in Prometheus.
    assert {name: body[name]["exporters"] for name in pipelines_receiving_from(config, "spanmetrics")} == {
        "metrics": ["prometheusremotewrite"]
    }


def test_span_metrics_connector_settings() -> None:
    """Span metrics are in seconds, carry exemplars and keep collector.instance.id as a dimension
    (single writer per series when the gateway has several replicas)."""
    connector = load_config("gateway")["connectors"]["spanmetrics"]
    assert connector["histogram"]["unit"] == "s"
    assert connector["exemplars"] == {"enabled": True}
    assert [d["name"] for d in connector["dimensions"]] == [
        "http.request.method",
        "http.route",
        "http.response.status_code",
        "error.type",
        "collector.instance.id",
    ]
    stamp = load_config("gateway")["processors"]["resource/collector_id"]["attributes"]
    assert [(a["key"], a["action"]) for a in stamp] == [("collector.instance.id", "upsert")]


def test_tail_sampling_policies() -> None:
    """Tail sampling drops health checks and scrapes and keeps errors, slow traces, traces with
    resilience span events or attributes, and a baseline share of the rest."""
    policies = load_config("gateway")["processors"]["tail_sampling"]["policies"]
    assert [(p["name"], p["type"]) for p in policies] == [
        ("drop-health-and-scrapes-by-path", "drop"),
        ("drop-health-and-scrapes-by-route", "drop"),
        ("keep-errors", "status_code"),
        ("keep-slow", "latency"),
        ("keep-resilience-activity", "ottl_condition"),
        ("keep-resilience-attributes", "string_attribute"),
        ("baseline", "probabilistic"),
    ]
    by_name = {p["name"]: p for p in policies}
    assert by_name["keep-errors"]["status_code"] == {"status_codes": ["ERROR"]}
    assert int(env_default(str(by_name["keep-slow"]["latency"]["threshold_ms"]))) > 0
    assert by_name["keep-resilience-activity"]["ottl_condition"] == {
        "error_mode": "ignore",
        "span": ['attributes["error.type"] != nil'],
        "spanevent": ['IsMatch(name, "^(telemetry|resilience)\\\\.")'],
    }
    assert by_name["keep-resilience-attributes"]["string_attribute"]["key"].startswith("resilience.")

    drop_keys = set()
    for name in ("drop-health-and-scrapes-by-path", "drop-health-and-scrapes-by-route"):
        (sub,) = by_name[name]["drop"]["drop_sub_policy"]
        attribute = sub["string_attribute"]
        assert attribute["enabled_regex_matching"] is True
        drop_keys.add(attribute["key"])
        patterns = [re.compile(value) for value in attribute["values"]]
        matched = {
            path: any(p.search(path) for p in patterns)
            for path in ("/health", "/health/live", "/health/ready", "/metrics", "/orders", "/orders/health-report")
        }
        assert matched == {
            "/health": True,
            "/health/live": True,
            "/health/ready": True,
            "/metrics": True,
            "/orders": False,
            "/orders/health-report": False,
        }
    assert drop_keys == {"url.path", "http.route"}


def test_agent_load_balances_traces_by_trace_id() -> None:
    """The agent sends traces and logs to the gateway tier through the loadbalancing exporter
    routed by traceID over DNS, and never routes metrics with it."""
    config = load_config("agent")
    exporter = config["exporters"]["loadbalancing"]
    assert exporter["routing_key"] == "traceID"
    assert set(exporter["resolver"]) == {"dns"}
    assert env_default(exporter["resolver"]["dns"]["hostname"]) == "otel-gateway"
    assert exporter["protocol"]["otlp"]["tls"] == {"insecure": True}
    assert pipelines_exporting_to(config, "loadbalancing") == {"traces", "logs"}
    assert pipelines(config)["metrics"]["exporters"] == ["otlp/gateway"]


def test_agent_pipelines_have_the_designed_shape() -> None:
    """Agent pipelines: OTLP in (one path per signal: no /metrics scrape beside it), memory_limiter,
    resource detection and attributes, batch, then out to the gateway tier."""
    processors = ["memory_limiter", "resourcedetection", "resource", "batch"]
    assert pipelines(load_config("agent")) == {
        "traces": {"receivers": ["otlp"], "processors": processors, "exporters": ["loadbalancing"]},
        "logs": {"receivers": ["otlp"], "processors": processors, "exporters": ["loadbalancing"]},
        "metrics": {
            "receivers": ["otlp"],
            "processors": processors,
            "exporters": ["otlp/gateway"],
        },
    }


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_otlp_receivers_listen_on_standard_ports(name: str) -> None:
    """OTLP is received on gRPC 4317 and HTTP 4318 on all interfaces."""
    protocols = load_config(name)["receivers"]["otlp"]["protocols"]
    assert protocols == {
        "grpc": {"endpoint": "0.0.0.0:4317"},
        "http": {"endpoint": "0.0.0.0:4318"},
    }


def test_gateway_exporter_destinations() -> None:
    """By default the gateway writes to the compose services prometheus, tempo and loki."""
    exporters = load_config("gateway")["exporters"]
    assert {name: env_default(body["endpoint"]) for name, body in exporters.items()} == {
        "prometheusremotewrite": "http://prometheus:9090/api/v1/write",
        "otlp/tempo": "tempo:4317",
        "otlphttp/loki": "http://loki:3100/otlp",
    }


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_environment_references_use_env_provider_syntax(name: str) -> None:
    """Every substitution is `${env:NAME}` or `${env:NAME:-default}` (the bare `${NAME}` form is
    deprecated by the collector)."""
    text = (COLLECTOR_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    references = ENV_REFERENCE.findall(body)
    assert references, "expected at least one environment reference"
    assert [ref for ref in references if not ENV_REFERENCE_ALLOWED.match(ref)] == []


def test_image_version_is_pinned_and_matches_compose() -> None:
    """Both configs name the same explicitly tagged contrib image, and docker-compose runs it."""
    images = {name: header_image(name) for name in CONFIG_NAMES}
    assert len(set(images.values())) == 1, images
    image = images["gateway"]
    repository, _, tag = image.rpartition(":")
    assert repository == IMAGE_REPOSITORY
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"tag {tag!r} is not an explicit version"

    with (ROOT / "docker-compose.yml").open(encoding="utf-8") as handle:
        compose = yaml.safe_load(handle)
    collector = compose["services"]["otel-collector"]
    assert collector["image"] == image
    assert "./collector/gateway.yaml:/etc/otelcol-contrib/config.yaml:ro" in collector["volumes"]


# --- the configs read only what the package emits (names read from the package) -----------


def _collector_added(config: dict[str, Any]) -> set[str]:
    """Attributes a processor of the same config sets itself (resource/attributes processors)."""
    added: set[str] = set()
    for body in (config.get("processors") or {}).values():
        for action in (body or {}).get("attributes", []) if isinstance(body, dict) else []:
            if action.get("action") in {"insert", "upsert"}:
                added.add(action["key"])
    return added


def _attributes_read(config: dict[str, Any]) -> set[str]:
    """Every span attribute the gateway's tail sampling policies and span metrics read."""
    read: set[str] = set()

    def walk(policy: dict[str, Any]) -> None:
        for sub in policy.get("drop", {}).get("drop_sub_policy", []) + policy.get("and", {}).get("and_sub_policy", []):
            walk(sub)
        if "string_attribute" in policy:
            read.add(policy["string_attribute"]["key"])
        if "numeric_attribute" in policy:
            read.add(policy["numeric_attribute"]["key"])
        for condition in policy.get("ottl_condition", {}).get("span", []):
            read.update(re.findall(r'attributes\["([^"]+)"\]', condition))

    for policy in config["processors"]["tail_sampling"]["policies"]:
        walk(policy)
    read.update(d["name"] for d in config["connectors"]["spanmetrics"]["dimensions"])
    return read


def test_every_attribute_a_policy_or_connector_reads_is_emitted() -> None:
    """Sampling policies and span-metric dimensions read only attribute names the package
    emits (telemetry.attributes) or the same config adds itself; a renamed attribute fails here."""
    from telemetry import attributes

    config = load_config("gateway")
    unknown = _attributes_read(config) - attributes.emitted() - _collector_added(config)
    assert unknown == set()
    # span-level filters read span attributes, not event-only ones
    keys = {
        p["string_attribute"]["key"]
        for p in config["processors"]["tail_sampling"]["policies"]
        if "string_attribute" in p
    }
    assert keys <= attributes.SPAN_ATTRIBUTES


def _trace_queries() -> list[str]:
    """The TraceQL of every alert's trace-search link in alerts/*.rules.yml."""
    import json
    import urllib.parse

    queries = []
    for path in sorted((ROOT / "alerts").glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                url = rule.get("annotations", {}).get("trace_search_url")
                if url:
                    panes = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["panes"][0]
                    queries.append(json.loads(panes)["a"]["queries"][0]["query"])
    return queries


def test_alert_trace_links_filter_on_emitted_names_in_their_scope() -> None:
    """Every `span.X` in an alert's TraceQL is set on spans and every `event.X` on span events
    by the package; the resource attribute is the one setup() puts in the resource."""
    from telemetry import attributes
    from telemetry.bootstrap import _resource

    queries = _trace_queries()
    assert queries
    span_names = {m for q in queries for m in re.findall(r"\bspan\.([\w.]+)", q)}
    event_names = {m for q in queries for m in re.findall(r"\bevent\.([\w.]+)", q)}
    resource_names = {m for q in queries for m in re.findall(r"\bresource\.([\w.]+)", q)}
    assert span_names and event_names
    assert span_names - attributes.SPAN_ATTRIBUTES == set()
    assert event_names - attributes.emitted() == set()
    assert resource_names - set(_resource("orders").attributes) == set()


def test_grafana_links_agree_with_the_package_and_the_alerts() -> None:
    """Traces-to-metrics maps service.name to the `job` label (what both metric paths produce),
    traces-to-logs to Loki's service_name; exemplars link by the trace_id label the package
    writes; the alerts' trace links open the same Grafana and Tempo datasource uid."""
    from telemetry.bootstrap import _resource
    from telemetry.rules import RulesConfig

    provisioning = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
    sources = {s["uid"]: s for s in yaml.safe_load(provisioning.read_text(encoding="utf-8"))["datasources"]}
    tempo = sources["tempo"]["jsonData"]
    resource = set(_resource("orders").attributes)
    to_metrics = {t["key"]: t["value"] for t in tempo["tracesToMetrics"]["tags"]}
    assert to_metrics == {"service.name": "job"}
    assert set(to_metrics) <= resource
    to_logs = {t["key"]: t["value"] for t in tempo["tracesToLogsV2"]["tags"]}
    assert to_logs == {"service.name": "service_name"}
    [exemplar] = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert (exemplar["name"], exemplar["datasourceUid"]) == ("trace_id", "tempo")
    with (ROOT / "docker-compose.yml").open(encoding="utf-8") as handle:
        grafana_port = yaml.safe_load(handle)["services"]["grafana"]["ports"][0].rsplit(":", 2)[-1]
    base = RulesConfig().trace_search_base_url
    assert base == f"http://localhost:{grafana_port}/explore"
    assert all(q for q in _trace_queries())
    import urllib.parse

    for path in sorted((ROOT / "alerts").glob("*.rules.yml")):
        text = path.read_text(encoding="utf-8")
        for url in re.findall(r"trace_search_url: (\S+)", text):
            assert url.startswith(base + "?")
            assert '"datasource":"tempo"' in urllib.parse.unquote(url)


IDENTITY = {"job", "instance"}  # produced by a scrape and by the OTLP-to-Prometheus rules alike


def _grouping_labels(expr: str) -> set[str]:
    return {
        label.strip()
        for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
        for label in group.split(",")
        if label.strip()
    }


def test_every_label_a_rule_or_panel_groups_by_is_produced_by_both_paths() -> None:
    """The rules (rendered with the identity both paths produce) and every dashboard query
    group only by `job`/`instance`, `le`, and catalog labels whose Prometheus name is exactly
    what the OTLP-to-Prometheus translation makes of the OTel attribute name."""
    from telemetry import catalog
    from telemetry.dashboards import expressions
    from telemetry.rules import RulesConfig, render

    labels = {label for spec in catalog.CATALOG for label in spec.labels}
    translated = {label.prom for label in labels if re.sub(r"[^a-zA-Z0-9_]", "_", label.name) == label.prom}
    assert translated == {label.prom for label in labels}, "a catalog label's prom name differs from OTLP's"
    exprs = list(expressions())
    for relative, content in render(RulesConfig(service_label="job")).items():
        if relative.name.endswith(".rules.yml"):
            exprs += [r["expr"] for g in yaml.safe_load(content)["groups"] for r in g["rules"]]
    used = set().union(*(_grouping_labels(expr) for expr in exprs))
    assert used
    assert used - translated - IDENTITY - {"le"} == set()


def test_one_metrics_path_per_deployment() -> None:
    """docker-compose: Prometheus scrapes the app XOR the app pushes OTLP metrics; the agent's
    metrics pipeline has one receiver for application metrics."""
    with (ROOT / "docker-compose.yml").open(encoding="utf-8") as handle:
        app = yaml.safe_load(handle)["services"]["app"]
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    scraped = [
        job["job_name"]
        for job in prometheus["scrape_configs"]
        for static in job.get("static_configs", [])
        if "app:8000" in static["targets"]
    ]
    pushes = app["environment"].get("OTEL_METRICS_EXPORTER", "otlp") != "none"
    assert (scraped, pushes) == (["orders"], False)
    assert app["environment"]["OTEL_SERVICE_NAME"] == "orders"  # the scrape job's name: one `job`
    agent = pipelines(load_config("agent"))
    assert agent["metrics"]["receivers"] == ["otlp"]
