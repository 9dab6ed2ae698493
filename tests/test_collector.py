"""Structural checks of the OpenTelemetry Collector configs in collector/.

No otelcol binary is installable on the project's machines, so these tests read the YAML and
check what `otelcol-contrib validate` would reject (undefined or unused components, component
types or config keys that otelcol-contrib 0.143 does not have, per
tests/data/otelcol-contrib-0.143.yaml) plus the project's own rules: memory_limiter first, span
metrics computed before tail sampling, trace-ID load balancing, pinned image version.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator
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
                    panes = re.sub(r"\{\{ with query .*?\{\{ end \}\}", "0", panes)  # the range's start
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


# --- component types and config keys exist in otelcol-contrib 0.143 --------------------------
#
# The collector decodes each component's config with mapstructure and ErrorUnused, so one
# misspelled key anywhere (`sending_queu:`, `limit_percentag:`) fails `otelcol-contrib validate`.
# tests/data/otelcol-contrib-0.143.yaml lists the component types of the 0.143 distribution and,
# for every type these configs use, the keys its Go config struct accepts; its header says where
# each came from and how to read it. The checker below walks a config along that tree.

CONTRIB_SCHEMA = ROOT / "tests" / "data" / "otelcol-contrib-0.143.yaml"
CONTRIB = "otelcol-contrib 0.143"
SINGULAR = {
    "receivers": "receiver",
    "processors": "processor",
    "exporters": "exporter",
    "connectors": "connector",
    "extensions": "extension",
}
# Go's time.ParseDuration: "0", or one or more <number><unit>, optionally signed.
GO_DURATION = re.compile(r"[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)")
WHOLE_ENV_REFERENCE = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*(:-(?P<default>[^}]*))?\}")
SCALAR_LEAVES: dict[str, Callable[[Any], bool]] = {
    "scalar": lambda value: True,
    "bool": lambda value: isinstance(value, bool),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "duration": lambda value: isinstance(value, str) and GO_DURATION.fullmatch(value) is not None,
}
# Leaf markers that describe the shape of the config rather than a value.
KEY_PROBLEMS = {
    None: "unknown key",
    "mapping": "expected a mapping",
    "list of mappings": "expected a list",
    "undescribed": f"sub-keys not described in tests/data/{CONTRIB_SCHEMA.name}",
    "no schema": f"type has no key schema in tests/data/{CONTRIB_SCHEMA.name}",
}
UNSET = object()  # an ${env:NAME} without default: its value is only known at run time


@functools.cache
def contrib_schema() -> dict[str, Any]:
    """The parsed data file (YAML merge keys `<<:` already applied by the loader)."""
    with CONTRIB_SCHEMA.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def walk(node: Any, value: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """Yield (path, leaf, value) for every leaf of `value` along schema `node`.

    A mapping node is a struct (its keys, or "*" for any key), a one-element list node is a list
    of structs, a string node is a leaf kind. leaf is None for a key the struct does not have, and
    "mapping"/"list of mappings" where the value has the wrong shape. An absent or empty section
    (`health_check:`) decodes to the defaults, so None is fine anywhere.
    """
    if value is None:
        return
    if isinstance(node, dict):
        if not isinstance(value, dict):
            yield path, "mapping", value
            return
        for key, sub in value.items():
            child = node.get(key, node.get("*"))
            if child is None:
                yield f"{path}::{key}", None, sub
            else:
                yield from walk(child, sub, f"{path}::{key}")
    elif isinstance(node, list):
        if not isinstance(value, list):
            yield path, "list of mappings", value
            return
        for index, item in enumerate(value):
            yield from walk(node[0], item, f"{path}[{index}]")
    else:
        yield path, node, value


def config_leaves(config: dict[str, Any]) -> Iterator[tuple[str, str, Any, Any]]:
    """(path, schema label, leaf, value) for every leaf of every component config and `service`."""
    schemas = contrib_schema()["schemas"]
    for key, value in config.items():
        if key not in (*SECTIONS, "service"):
            yield key, "top level", None, value
    for section in SECTIONS:
        for component_id, body in (config.get(section) or {}).items():
            component_type = component_id.split("/", 1)[0]
            label = f"{SINGULAR[section]} {component_type}"
            entry = schemas[section].get(component_type)
            if entry is None:
                yield f"{section}::{component_id}", label, "no schema", body
                continue
            for path, leaf, value in walk(entry["keys"], body, f"{section}::{component_id}"):
                yield path, label, leaf, value
    for path, leaf, value in walk(schemas["service"]["keys"], config.get("service"), "service"):
        yield path, "service", leaf, value


def env_resolved(value: Any) -> Any:
    """A whole `${env:NAME:-default}` stands for its default, parsed as YAML the way confmap
    types an expanded value; `${env:NAME}` without default is UNSET."""
    match = WHOLE_ENV_REFERENCE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return value
    default = match.group("default")
    return UNSET if default is None else yaml.safe_load(default)


def value_problem(leaf: str, value: Any) -> str | None:
    """Why `value` does not fit leaf kind `leaf` (see the data file's grammar), or None."""
    if leaf == "any":
        return None
    if leaf == "map":
        return None if isinstance(value, (dict, list)) else f"expected a map, got {value!r}"
    if leaf == "list" or leaf.startswith("list:"):
        return list_problem(leaf.partition(":")[2] or "scalar", value)
    return scalar_problem(leaf, env_resolved(value))


def list_problem(item_leaf: str, value: Any) -> str | None:
    """The first item that does not fit; a comma-separated string decodes as a list too
    (mapstructure.StringToSliceHookFunc(",") in the collector's decoder)."""
    value = env_resolved(value)
    if value is UNSET or value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return f"expected a list, got {value!r}"
    problems = ((index, value_problem(item_leaf, item)) for index, item in enumerate(value))
    return next((f"item {index}: {problem}" for index, problem in problems if problem), None)


def scalar_problem(leaf: str, value: Any) -> str | None:
    """Why a single value does not fit: wrong YAML type, not a Go duration, not in the enum."""
    if value is UNSET or value is None:
        return None
    if isinstance(value, (dict, list)):
        return f"expected a single value, got {value!r}"
    if leaf.startswith("enum:"):
        return enum_problem(leaf.removeprefix("enum:"), value)
    if leaf not in SCALAR_LEAVES:
        raise ValueError(f"unknown leaf kind {leaf!r} in {CONTRIB_SCHEMA.name}")
    return None if SCALAR_LEAVES[leaf](value) else f"expected {leaf}, got {value!r}"


def enum_problem(name: str, value: Any) -> str | None:
    """None when `value` is one of enums.<name> (compared case-insensitively where the Go code
    lowercases the value before matching)."""
    enum = contrib_schema()["enums"][name]
    fold: Callable[[str], str] = str.lower if enum.get("case_insensitive") else str
    if isinstance(value, str) and fold(value) in {fold(allowed) for allowed in enum["values"]}:
        return None
    return f"{value!r} is not one of {enum['values']}"


def unknown_components(name: str, config: dict[str, Any]) -> list[str]:
    """Component ids whose type (the part before `/`) is not a 0.143 contrib component of that kind."""
    known = contrib_schema()["components"]
    return [
        f"collector/{name}.yaml: {section}::{component_id}: {component_id.split('/', 1)[0]!r} "
        f"is not a {SINGULAR[section]} type of {CONTRIB}"
        for section in SECTIONS
        for component_id in config.get(section) or {}
        if component_id.split("/", 1)[0] not in known[section]
    ]


def key_problems(name: str, config: dict[str, Any]) -> list[str]:
    """Every key path the schema does not accept, with the file, the full path and the schema."""
    return [
        f"collector/{name}.yaml: {path}: {KEY_PROBLEMS[leaf]} ({label}, {CONTRIB})"
        for path, label, leaf, _ in config_leaves(config)
        if leaf in KEY_PROBLEMS
    ]


def value_problems(name: str, config: dict[str, Any]) -> list[str]:
    """Every accepted key whose value is not of its kind (enum, duration, bool, int, ...)."""
    return [
        f"collector/{name}.yaml: {path}: {problem} ({label}, {CONTRIB})"
        for path, label, leaf, value in config_leaves(config)
        if leaf not in KEY_PROBLEMS and (problem := value_problem(leaf, value))
    ]


def schema_leaf_kinds(node: Any) -> Iterator[str]:
    """Every leaf kind a schema tree uses."""
    if isinstance(node, dict):
        for child in node.values():
            yield from schema_leaf_kinds(child)
    elif isinstance(node, list):
        yield from schema_leaf_kinds(node[0])
    else:
        yield node


def test_contrib_schema_is_consistent() -> None:
    """The data file describes only types of the distribution and uses only known leaf kinds and
    enums, so a typo in the data file cannot silently accept anything."""
    data = contrib_schema()
    assert data["collector_version"] == header_image("gateway").rpartition(":")[2]
    assert set(data["components"]) == set(SECTIONS)
    assert all(evidence in {"A", "B", "C"} for kind in SECTIONS for evidence in data["components"][kind].values())
    for section in SECTIONS:
        assert set(data["schemas"][section]) <= set(data["components"][section]), section
    kinds = {
        kind
        for section in (*SECTIONS, "service")
        for entry in ([data["schemas"][section]] if section == "service" else data["schemas"][section].values())
        for kind in schema_leaf_kinds(entry["keys"])
    }
    markers = {"any", "map", "list", "undescribed"}
    for kind in kinds:
        base = kind.removeprefix("list:")
        if base.startswith("enum:"):
            assert base.removeprefix("enum:") in data["enums"], kind
        else:
            assert base in SCALAR_LEAVES or base in markers, kind


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_component_type_exists_in_contrib_0_143(name: str) -> None:
    """Every receiver, processor, exporter, connector and extension type is in the 0.143 contrib
    distribution under that kind."""
    assert unknown_components(name, load_config(name)) == []


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_config_key_is_accepted_by_contrib_0_143(name: str) -> None:
    """Every key path, at every nesting level of every component and of `service`, is a key the
    component's 0.143 config struct accepts."""
    assert key_problems(name, load_config(name)) == []


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_every_value_fits_its_key(name: str) -> None:
    """Enum values are accepted values, durations are Go duration strings, booleans and numbers
    have their type; an `${env:NAME:-default}` is checked through its default."""
    assert value_problems(name, load_config(name)) == []


def test_the_enum_settings_are_checked() -> None:
    """The settings whose values are enums in 0.143 are walked as enums, not as free scalars."""
    enum_paths = {
        name: {path for path, _, leaf, _ in config_leaves(load_config(name)) if str(leaf).startswith("enum:")}
        for name in CONFIG_NAMES
    }
    assert {
        "exporters::loadbalancing::routing_key",
        "processors::resource::attributes[0]::action",
        "service::telemetry::metrics::level",
    } <= enum_paths["agent"]
    assert {
        "processors::tail_sampling::policies[0]::type",
        "processors::tail_sampling::policies[0]::drop::drop_sub_policy[0]::type",
        "processors::tail_sampling::policies[4]::ottl_condition::error_mode",
        "connectors::spanmetrics::aggregation_temporality",
        "connectors::spanmetrics::histogram::unit",
    } <= enum_paths["gateway"]


@pytest.mark.parametrize(
    "leaf",
    ["scalar", "bool", "int", "float", "duration", "list", "list:duration", "enum:routing_key", "enum:policy_type"],
)
def test_environment_references_are_accepted_wherever_a_scalar_is(leaf: str) -> None:
    """`${env:NAME}` is accepted for any scalar (its value is known only at run time); with a
    default, the default is what is checked."""
    assert value_problem(leaf, "${env:ANY_NAME}") is None
    assert value_problem("duration", "${env:CHECK_INTERVAL:-1s}") is None
    assert value_problem("int", "${env:TAIL_SAMPLING_LATENCY_MS:-500}") is None
    assert value_problem("float", "${env:TAIL_SAMPLING_BASELINE_PERCENT:-10}") is None
    assert value_problem("duration", "${env:CHECK_INTERVAL:-1 second}") == "expected duration, got '1 second'"


def test_the_configs_use_environment_references_in_scalar_positions() -> None:
    """The env-reference acceptance is exercised by the real configs, not only by the unit test."""
    referenced = {
        (name, path, leaf)
        for name in CONFIG_NAMES
        for path, _, leaf, value in config_leaves(load_config(name))
        if isinstance(value, str) and WHOLE_ENV_REFERENCE.fullmatch(value)
    }
    assert ("agent", "exporters::loadbalancing::resolver::dns::port", "scalar") in referenced
    assert ("gateway", "processors::tail_sampling::policies[3]::latency::threshold_ms", "int") in referenced
    assert (
        "gateway",
        "processors::tail_sampling::policies[6]::probabilistic::sampling_percentage",
        "float",
    ) in referenced


# --- the checker can fail: broken copies of the configs ------------------------------------


def _at(config: dict[str, Any], *keys: str | int) -> Any:
    """The node at a key path of a (copied) config."""
    for key in keys:
        config = config[key]
    return config


def _rename(mapping: dict[str, Any], old: str, new: str) -> None:
    """Rename a key in place, keeping the order of the other keys."""
    items = list(mapping.items())
    mapping.clear()
    mapping.update((new if key == old else key, value) for key, value in items)


def _move_max_elapsed_time_into_sending_queue(config: dict[str, Any]) -> None:
    otlp = _at(config, "exporters", "loadbalancing", "protocol", "otlp")
    otlp["sending_queue"]["max_elapsed_time"] = otlp["retry_on_failure"].pop("max_elapsed_time")


def _move_hostname_sources_out_of_system(config: dict[str, Any]) -> None:
    detection = _at(config, "processors", "resourcedetection")
    detection["hostname_sources"] = detection.pop("system")["hostname_sources"]


def _rename_tail_sampling(config: dict[str, Any]) -> None:
    _rename(config["processors"], "tail_sampling", "tailsampling")
    sampled = _at(config, "service", "pipelines", "traces/sampled", "processors")
    sampled[sampled.index("tail_sampling")] = "tailsampling"


BROKEN_KEYS: dict[str, tuple[str, Callable[[dict[str, Any]], None], list[str]]] = {
    "misspelled key in sending_queue": (
        "agent",
        lambda config: _rename(_at(config, "exporters", "otlp/gateway", "sending_queue"), "queue_size", "queue_sze"),
        [
            "collector/agent.yaml: exporters::otlp/gateway::sending_queue::queue_sze: unknown key (exporter otlp, otelcol-contrib 0.143)"
        ],
    ),
    "misspelled top-level key of a processor": (
        "agent",
        lambda config: _rename(_at(config, "processors", "memory_limiter"), "limit_percentage", "limit_percentag"),
        [
            "collector/agent.yaml: processors::memory_limiter::limit_percentag: unknown key (processor memory_limiter, otelcol-contrib 0.143)"
        ],
    ),
    "retry key nested under sending_queue": (
        "agent",
        _move_max_elapsed_time_into_sending_queue,
        [
            "collector/agent.yaml: exporters::loadbalancing::protocol::otlp::sending_queue::max_elapsed_time: unknown key (exporter loadbalancing, otelcol-contrib 0.143)"
        ],
    ),
    "detector key outside its detector": (
        "agent",
        _move_hostname_sources_out_of_system,
        [
            "collector/agent.yaml: processors::resourcedetection::hostname_sources: unknown key (processor resourcedetection, otelcol-contrib 0.143)"
        ],
    ),
    "misspelled policy kind inside a drop sub-policy": (
        "gateway",
        lambda config: _rename(
            _at(config, "processors", "tail_sampling", "policies", 0, "drop", "drop_sub_policy", 0),
            "string_attribute",
            "string_atribute",
        ),
        [
            "collector/gateway.yaml: processors::tail_sampling::policies[0]::drop::drop_sub_policy[0]::string_atribute: unknown key (processor tail_sampling, otelcol-contrib 0.143)"
        ],
    ),
    "misspelled key in service telemetry": (
        "gateway",
        lambda config: _rename(_at(config, "service", "telemetry", "metrics"), "level", "levle"),
        ["collector/gateway.yaml: service::telemetry::metrics::levle: unknown key (service, otelcol-contrib 0.143)"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_KEYS))
def test_a_broken_key_is_rejected_with_its_full_path(case: str) -> None:
    """A copy of a config with one bad key fails with exactly one message naming the file, the
    component and the full key path."""
    name, breaks, expected = BROKEN_KEYS[case]
    config = copy.deepcopy(load_config(name))
    breaks(config)
    assert key_problems(name, config) == expected


def test_an_unknown_component_type_is_rejected() -> None:
    """A component type the distribution does not have is reported by kind and id."""
    config = copy.deepcopy(load_config("gateway"))
    _rename_tail_sampling(config)
    assert unknown_components("gateway", config) == [
        "collector/gateway.yaml: processors::tailsampling: 'tailsampling' is not a processor type of otelcol-contrib 0.143"
    ]
    assert key_problems("gateway", config) == [
        "collector/gateway.yaml: processors::tailsampling: type has no key schema in tests/data/otelcol-contrib-0.143.yaml (processor tailsampling, otelcol-contrib 0.143)"
    ]


def test_a_component_of_the_wrong_kind_is_rejected() -> None:
    """A connector type listed under processors is not a processor."""
    config = copy.deepcopy(load_config("gateway"))
    config["processors"]["spanmetrics"] = config["connectors"]["spanmetrics"]
    assert unknown_components("gateway", config) == [
        "collector/gateway.yaml: processors::spanmetrics: 'spanmetrics' is not a processor type of otelcol-contrib 0.143"
    ]


BROKEN_VALUES: dict[str, tuple[str, Callable[[dict[str, Any]], None], list[str]]] = {
    "routing key in the wrong case": (
        "agent",
        lambda config: _at(config, "exporters", "loadbalancing").update(routing_key="traceId"),
        [
            "collector/agent.yaml: exporters::loadbalancing::routing_key: 'traceId' is not one of ['service', 'traceID', 'metric', 'resource', 'streamID', 'attributes'] (exporter loadbalancing, otelcol-contrib 0.143)"
        ],
    ),
    "unknown attribute action": (
        "agent",
        lambda config: _at(config, "processors", "resource", "attributes", 0).update(action="add"),
        [
            "collector/agent.yaml: processors::resource::attributes[0]::action: 'add' is not one of ['insert', 'update', 'upsert', 'delete', 'hash', 'extract', 'convert'] (processor resource, otelcol-contrib 0.143)"
        ],
    ),
    "duration without a unit Go knows": (
        "agent",
        lambda config: _at(config, "processors", "memory_limiter").update(check_interval="1 sec"),
        [
            "collector/agent.yaml: processors::memory_limiter::check_interval: expected duration, got '1 sec' (processor memory_limiter, otelcol-contrib 0.143)"
        ],
    ),
    "environment default that is not a duration": (
        "gateway",
        lambda config: _at(config, "processors", "tail_sampling").update(decision_wait="${env:DECISION_WAIT:-10}"),
        [
            "collector/gateway.yaml: processors::tail_sampling::decision_wait: expected duration, got 10 (processor tail_sampling, otelcol-contrib 0.143)"
        ],
    ),
    "unknown policy type": (
        "gateway",
        lambda config: _at(config, "processors", "tail_sampling", "policies", 2).update(type="status"),
        [
            "collector/gateway.yaml: processors::tail_sampling::policies[2]::type: 'status' is not one of ['always_sample', 'latency', 'numeric_attribute', 'probabilistic', 'status_code', 'string_attribute', 'rate_limiting', 'bytes_limiting', 'span_count', 'trace_state', 'boolean_attribute', 'ottl_condition', 'composite', 'and', 'drop'] (processor tail_sampling, otelcol-contrib 0.143)"
        ],
    ),
    "temporality without its prefix": (
        "gateway",
        lambda config: _at(config, "connectors", "spanmetrics").update(aggregation_temporality="CUMULATIVE"),
        [
            "collector/gateway.yaml: connectors::spanmetrics::aggregation_temporality: 'CUMULATIVE' is not one of ['AGGREGATION_TEMPORALITY_CUMULATIVE', 'AGGREGATION_TEMPORALITY_DELTA'] (connector spanmetrics, otelcol-contrib 0.143)"
        ],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_VALUES))
def test_a_broken_value_is_rejected_with_its_full_path(case: str) -> None:
    """A copy of a config with one bad value fails with exactly one message naming the file, the
    component, the full key path and what is accepted."""
    name, breaks, expected = BROKEN_VALUES[case]
    config = copy.deepcopy(load_config(name))
    breaks(config)
    assert value_problems(name, config) == expected
