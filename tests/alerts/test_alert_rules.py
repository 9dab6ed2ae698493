"""The generated rule files: real promtool checks and unit tests, catalog-only PromQL, hygiene."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from telemetry import catalog, rules
from telemetry.__main__ import main
from telemetry.promql import Builder
from telemetry.rules import RulesConfig, expressions
from telemetry.rules.config import duration_seconds
from telemetry.rules.render import dump
from tests.alerts.support import (
    ALERTS,
    ROOT,
    RULE_FILES,
    TEST_FILES,
    alert_checks,
    alert_rules,
    load,
    record_rules,
    run,
)

EXTRA_METRICS = {"ALERTS", "up"}
TARGET_LABELS = {"service", "instance", "job"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}


def parse(expr: str) -> tuple[set[str], set[str]]:
    """The metric names and label names a PromQL expression uses (a small lexer, enough for
    the rule generator's output: selectors, grouping clauses, functions, label_replace)."""
    labels: set[str] = set()
    for body in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", body))
    stripped = re.sub(r'"[^"]*"', '""', expr)
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", stripped)
    for clause in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", stripped):
        labels |= {part.strip() for part in clause.split(",") if part.strip()}
    stripped = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", stripped)
    names = {
        token for token in re.findall(r"(?<![\w.:])([a-zA-Z_:][\w:]*)\b(?!\s*\()", stripped) if token not in KEYWORDS
    }
    return names, labels


def catalog_series() -> dict[str, catalog.MetricSpec]:
    return {name: spec for spec in catalog.CATALOG for name in spec.series_names}


def source_specs(name: str, records: dict[str, str], series: dict[str, catalog.MetricSpec]) -> set[str]:
    """Catalog metric names behind a series name, following recording rules."""
    if name in series:
        return {series[name].name}
    if name in records:
        found: set[str] = set()
        for inner in parse(records[name])[0]:
            found |= source_specs(inner, records, series)
        return found
    return set()


def test_promtool_check_rules_with_lint(promtool) -> None:
    """Every generated rule file passes `promtool check rules --lint=all --lint-fatal`."""
    result = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES) == 12


def test_promtool_unit_tests_pass(promtool) -> None:
    """`promtool test rules` passes on every committed unit-test file."""
    result = run(promtool, "test", "rules", *(path.name for path in TEST_FILES), cwd=ALERTS / "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES) == 12


def test_promtool_unit_tests_fail_on_a_wrong_expectation(promtool, tmp_path: Path) -> None:
    """The unit tests can fail: one changed expected label value makes promtool exit 1."""
    shutil.copy(ALERTS / "dependency.rules.yml", tmp_path / "dependency.rules.yml")
    (tmp_path / "tests").mkdir()
    text = (ALERTS / "tests" / "dependency.test.yml").read_text(encoding="utf-8")
    assert "dependency: s3" in text
    (tmp_path / "tests" / "dependency.test.yml").write_text(text.replace("dependency: s3", "dependency: db", 1))
    result = run(promtool, "test", "rules", "dependency.test.yml", cwd=tmp_path / "tests")
    assert result.returncode == 1
    assert "DependencyFailureRatioHigh" in result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    """Each generated alert has a promtool check where it fires (exact labels and all five
    annotations) and one where it must not (Watchdog, which always fires, only the first)."""
    names = {rule["alert"] for rule in alert_rules()}
    firing = {check["alertname"] for check in alert_checks() if check["exp_alerts"]}
    silent = {check["alertname"] for check in alert_checks() if not check["exp_alerts"]}
    assert firing == names
    assert silent == names - {"Watchdog"}
    for check in alert_checks():
        for expected in check["exp_alerts"]:
            assert set(expected["exp_annotations"]) == {
                "summary",
                "description",
                "runbook_url",
                "dashboard_url",
                "trace_search_url",
            }


def test_expressions_use_only_catalog_metrics_and_labels() -> None:
    """Every PromQL expression names only catalog series (or recorded series built from them),
    and only their catalog labels plus the target labels."""
    series = catalog_series()
    records = record_rules()
    exprs = expressions()
    assert sorted(exprs) == sorted([*records.values(), *(rule["expr"] for rule in alert_rules())])
    label_names = {label.prom for spec in catalog.CATALOG for label in spec.labels}
    for expr in exprs:
        names, labels = parse(expr)
        assert names or expr.startswith("label_replace(vector(1)"), expr
        unknown = names - set(series) - set(records) - EXTRA_METRICS
        assert unknown == set(), (expr, unknown)
        specs = {catalog.by_name(n) for name in names for n in source_specs(name, records, series)}
        allowed = {label for spec in specs for label in spec.label_names} | TARGET_LABELS | {"le"}
        replaced = {name for pair in re.findall(r'"([a-z_]+)", "\$1", "([a-z_]+)"', expr) for name in pair}
        assert replaced <= label_names
        assert labels - allowed - replaced == set(), (expr, labels - allowed)


def test_parser_sees_metrics_labels_and_rejects_literals() -> None:
    """The lexer behind the catalog check finds names inside functions and clauses."""
    names, labels = parse(
        'sum by (service, x) (rate(foo_total{a="1", b=~"2|3"}[5m])) / on (service) bar > 0.5 and rec:name:rate5m'
    )
    assert names == {"foo_total", "bar", "rec:name:rate5m"}
    assert labels == {"service", "x", "a", "b"}


def test_alert_hygiene() -> None:
    """CamelCase names, severity in critical/warning/info, no templates in labels, `for` on
    every alert but Watchdog, static summaries ending in a period, rate windows >= 4x scrape."""
    floor = 4 * duration_seconds(RulesConfig().scrape_interval)
    for rule in alert_rules():
        assert re.fullmatch(r"([A-Z][a-z0-9]+)+", rule["alert"]), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert all("{{" not in value and "$value" not in value for value in rule["labels"].values())
        assert "{{" not in rule["annotations"]["summary"]
        assert rule["annotations"]["summary"].endswith(".")
        assert "$value" in rule["annotations"]["description"] or rule["alert"] in {
            "CircuitBreakerOpen",
            "DegradedModeActive",
            "ResilienceTelemetryAbsent",
            "Watchdog",
        }
        assert rule["for"] != "0m" or rule["alert"] == "Watchdog"
    for expr in expressions():
        for window in re.findall(r"(?:rate|increase)\([^\[]*\[(\w+)\]", expr):
            assert duration_seconds(window) >= floor, expr


def test_every_alert_carries_the_service_label() -> None:
    """Each firing case's exact labels include `service` (routing and inhibition need it)."""
    for check in alert_checks():
        for expected in check["exp_alerts"]:
            assert expected["exp_labels"]["service"], check


def test_runbook_urls_point_to_existing_sections() -> None:
    """Every `runbook_url` anchor is a `## <AlertName>` section of alerts/runbooks.md, and every
    section belongs to an alert."""
    text = (ALERTS / "runbooks.md").read_text(encoding="utf-8")
    anchors = {heading.lower() for heading in re.findall(r"^## (\S+)$", text, flags=re.MULTILINE)}
    base = RulesConfig().runbook_base_url
    used = set()
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(base + "#")
        used.add(url.split("#", 1)[1])
    assert used == anchors


def test_links_are_templated_with_the_alert_labels() -> None:
    """Dashboard and trace-search links carry the alert's service (and breaker) as templates;
    the trace search is a TraceQL query in a Grafana Explore pane."""
    rule = next(rule for rule in alert_rules() if rule["alert"] == "CircuitBreakerOpen")
    links = rule["annotations"]
    assert links["dashboard_url"] == (
        "http://localhost:3000/d/rt-breakers?var-service={{ $labels.service | urlquery }}"
        "&var-instance={{ $labels.instance | urlquery }}&var-breaker={{ $labels.breaker_name | urlquery }}"
    )
    base, panes = links["trace_search_url"].split("&panes=", 1)
    assert base == "http://localhost:3000/explore?schemaVersion=1"
    filled = unquote(panes).replace("{{ $labels.service | urlquery }}", "api")
    pane = json.loads(filled.replace("{{ $labels.breaker_name | urlquery }}", "s3"))["a"]
    assert pane == {
        "datasource": "tempo",
        "queries": [
            {
                "refId": "A",
                "queryType": "traceql",
                "query": '{ resource.service.name = "api" && span.breaker.name = "s3" && status = error }',
            }
        ],
        "range": {"from": "now-1h", "to": "now"},
    }


def test_dashboard_links_point_to_existing_dashboards_and_variables() -> None:
    """Every `dashboard_url` names a dashboard of dashboards/*.json by uid and sets only
    variables that dashboard defines."""
    boards = {}
    for path in (ROOT / "dashboards").glob("*.json"):
        model = json.loads(path.read_text(encoding="utf-8"))
        boards[model["uid"]] = {variable["name"] for variable in model["templating"]["list"]}
    for rule in alert_rules():
        url = urlsplit(rule["annotations"]["dashboard_url"])
        uid = url.path.removeprefix("/d/")
        assert uid in boards, (rule["alert"], uid)
        names = {key.removeprefix("var-") for key, _ in parse_qsl(url.query)}
        assert "service" in names
        assert names <= boards[uid], (rule["alert"], names - boards[uid])


def test_builder_rejects_names_outside_the_catalog() -> None:
    """A label a metric does not have, or a value outside a closed set, fails at generation."""
    q = Builder()
    with pytest.raises(ValueError, match="has no label 'pool'"):
        q.series(catalog.CIRCUIT_STATE, pool="x")
    with pytest.raises(ValueError, match="'forced_open' is not a value"):
        q.series(catalog.CIRCUIT_STATE, state="forced_open")
    assert q.series(catalog.CIRCUIT_STATE, state="open") == 'resilience_circuit_state{state="open"}'
    assert Builder('job="api"').series(catalog.CIRCUIT_STATE) == ('resilience_circuit_state{job="api"}')


def test_config_validation() -> None:
    """Bad durations, windows under 4x the scrape interval, unknown keys and outcomes are errors."""
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        RulesConfig(breaker_pending="1 minute")
    with pytest.raises(ValueError, match="4x scrape_interval"):
        RulesConfig(scrape_interval="2m", rate_window="5m")
    with pytest.raises(ValueError, match="unknown alert config keys: nope"):
        RulesConfig.from_mapping({"nope": 1})
    with pytest.raises(ValueError, match="not outcomes"):
        RulesConfig(dependency_failure_outcomes=("boom",))
    with pytest.raises(ValueError, match="not a bucket"):
        RulesConfig(latency_threshold=0.3)
    config = RulesConfig.from_mapping(
        {
            "dependency_failure_outcomes": ["timeout"],
            "slo_windows": [{"long": "1h", "short": "5m", "factor": 10, "for": "2m", "severity": "critical"}],
        }
    )
    assert config.dependency_failure_outcomes == ("timeout",)
    assert config.slo_windows[0].for_ == "2m"
    assert RulesConfig().breaker_window == "4m"


def test_cli_generates_rules_from_a_users_config(tmp_path: Path, promtool) -> None:
    """`python -m telemetry generate --only alerts --config ops.yml` writes rules with the
    user's thresholds and selector (no promtool tests: they pin the defaults), and they check."""
    config = tmp_path / "ops.yml"
    config.write_text(
        "alerts:\n  selector: 'job=\"checkout\"'\n  dependency_failure_ratio: 0.2\n  service_label: app\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["generate", "--root", str(out), "--only", "alerts", "--config", str(config)]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(
        [
            f"alerts/{name}.rules.yml"
            for name in (
                *("breaker", "dependency", "dlq", "meta", "outbox", "pool", "retry", "slo"),
                *("bulkhead", "ratelimit", "recovery", "timeout"),
            )
        ]
        + ["alerts/alertmanager.yml", "alerts/runbooks.md"]
    )
    text = (out / "alerts" / "dependency.rules.yml").read_text(encoding="utf-8")
    assert "> 0.2\n" in text
    assert 'resilience_dependency_operations_total{job="checkout", outcome=~' in text
    assert "sum by (app, dependency)" in text
    result = run(
        promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, (out / "alerts").glob("*.rules.yml"))
    )
    assert result.returncode == 0, result.stdout + result.stderr
    json_config = tmp_path / "ops.json"
    json_config.write_text(json.dumps({"alerts": {"nope": 1}}), encoding="utf-8")
    with pytest.raises(ValueError, match="unknown alert config keys"):
        main(["generate", "--root", str(out), "--only", "alerts", "--config", str(json_config)])


def test_every_rule_file_has_a_hand_maintained_promtool_test_file() -> None:
    """Each family's rules come with ``alerts/tests/<family>.test.yml``, and the generator never
    writes those files: their expectations are literal, not computed by the code under test."""
    files = rules.generate()
    assert [p for p in files if p.parent.name == "tests"] == []
    assert [p.name for p in TEST_FILES] == sorted(p.name.replace(".rules.yml", ".test.yml") for p in RULE_FILES)
    for path in TEST_FILES:
        assert load(path)["rule_files"] == [f"../{path.name.replace('.test.yml', '.rules.yml')}"]


def test_every_catalog_metric_is_in_a_rule_or_a_panel_or_exempt() -> None:
    """The design's catalog rule, across both generators: each catalog metric is read by an
    alert or recording rule or a dashboard panel, or says why it is exempt."""
    from telemetry import dashboards

    used: set[str] = set()
    for expr in [*expressions(), *dashboards.expressions()]:
        used |= parse(expr)[0]
    missing = [spec.prom for spec in catalog.CATALOG if spec.exempt is None and not set(spec.series_names) & used]
    assert missing == []


def test_naive_open_rule_misses_the_cycle_that_ours_catches(promtool, tmp_path: Path) -> None:
    """The pitfall the breaker rule avoids, run for real: on the same open <-> half-open input,
    a naive `state="open" == 1` with `for: 5m` never fires (each half-open resets `for`)."""
    cycle = next(test for test in load(ALERTS / "tests" / "breaker.test.yml")["tests"] if "cycling" in test["name"])
    evals = [check["eval_time"] for check in cycle["alert_rule_test"] if check["alertname"] == "CircuitBreakerOpen"]
    assert [bool(check["exp_alerts"]) for check in cycle["alert_rule_test"]] == [False, True]
    naive = {
        "groups": [
            {
                "name": "naive",
                "rules": [
                    {
                        "alert": "NaiveBreakerOpen",
                        "expr": f'{catalog.CIRCUIT_STATE.prom}{{state="open"}} == 1',
                        "for": "5m",
                    }
                ],
            }
        ]
    }
    (tmp_path / "naive.rules.yml").write_text(dump(naive), encoding="utf-8")
    test = {
        "rule_files": ["naive.rules.yml"],
        "evaluation_interval": "10s",
        "tests": [
            {
                "interval": cycle["interval"],
                "input_series": cycle["input_series"],
                "alert_rule_test": [
                    {"eval_time": at, "alertname": "NaiveBreakerOpen", "exp_alerts": []} for at in evals
                ],
            }
        ],
    }
    (tmp_path / "naive.test.yml").write_text(dump(test), encoding="utf-8")
    result = run(promtool, "test", "rules", "naive.test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_family_template_has_one_section_per_alert_and_fills_the_config() -> None:
    """A family's runbook template (``telemetry/rules/families/<name>.md``) has exactly the
    sections of its alerts, and its placeholders take the user's config, not the defaults."""
    from telemetry.rules.families import families

    for family in families(RulesConfig()):
        assert [book.alert for book in family.runbooks] == list(dict.fromkeys(a.name for a in family.alerts))
    custom = RulesConfig(breaker_not_closed_for="11m", outbox_heartbeat_stale=130, retry_min_rate=0.06)
    text = rules.render(custom)[Path("alerts/runbooks.md")]
    assert "The breaker has not been closed once in 11m: it is open" in text
    assert "older than 130s: it hangs" in text
    assert "(guard: 0.06 calls/s)" in text
