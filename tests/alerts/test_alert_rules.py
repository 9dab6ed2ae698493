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
from telemetry.rules.config import ConfigError, duration_seconds
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


def source_specs(
    name: str, records: dict[str, str], series: dict[str, catalog.MetricSpec], seen: frozenset[str] = frozenset()
) -> set[str]:
    """Catalog metric names behind a series name, following recording rules (a record that
    reads itself, the meta family's target latch, is followed once)."""
    if name in series:
        return {series[name].name}
    if name in records and name not in seen:
        found: set[str] = set()
        for inner in parse(records[name])[0]:
            found |= source_specs(inner, records, series, seen | {name})
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


MATRIX_CASES = "abcdefgh"
# Watchdog reads no series: it has no lifecycle to test, only "always firing".
MATRIX_EXEMPT = {"Watchdog"}


def missing_cases(tests: list[dict]) -> dict[str, str]:
    """alertname -> the lifecycle cases none of its checks is tagged with ([a]..[h] in the name
    of the promtool test holding the check)."""
    tags: dict[str, set[str]] = {rule["alert"]: set() for rule in alert_rules() if rule["alert"] not in MATRIX_EXEMPT}
    for test in tests:
        cases = set(re.findall(r"\[([a-h])\]", test.get("name", "")))
        for check in test["alert_rule_test"]:
            if check["alertname"] in tags:
                tags[check["alertname"]] |= cases
    missing = {name: "".join(sorted(set(MATRIX_CASES) - found)) for name, found in tags.items()}
    return {name: cases for name, cases in sorted(missing.items()) if cases}


def all_tests() -> list[dict]:
    return [test for path in TEST_FILES for test in load(path)["tests"]]


def test_every_alert_has_the_whole_lifecycle_matrix() -> None:
    """Every alert has promtool cases tagged with each of the eight lifecycle cases: (a) healthy
    steady state, (b) threshold boundary, (c) born in the alerting state, (d) counter born at its
    first increment, (e) counter reset in the window, (f) target vanishing briefly and for longer,
    (g) several services, instances and objects with one bad, (h) a service without the feature."""
    assert missing_cases(all_tests()) == {}
    assert {rule["alert"] for rule in alert_rules()} >= MATRIX_EXEMPT


def test_matrix_check_fails_on_a_missing_case() -> None:
    """The matrix check can fail: untagging the born-open breaker test leaves CircuitBreakerOpen
    without case (c), and dropping every meta test leaves its alerts without any case."""
    tests = all_tests()
    untagged = [
        {**test, "name": test["name"].replace("CircuitBreakerOpen [c]:", "CircuitBreakerOpen:")} for test in tests
    ]
    assert missing_cases(untagged) == {"CircuitBreakerOpen": "c"}
    without_meta = [test for test in tests if not test["name"].startswith(("ServiceDown", "TargetDown"))]
    assert missing_cases(without_meta) == {"ServiceDown": MATRIX_CASES, "TargetDown": MATRIX_CASES}


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
            "ServiceDown",
            "DegradedModeActive",
            "ResilienceTelemetryAbsent",
            "Watchdog",
        }
        assert rule["for"] != "0m" or rule["alert"] == "Watchdog"
    for expr in expressions():
        for window in re.findall(r"(?:rate|increase)\([^\[]*\[(\w+)\]", expr):
            assert duration_seconds(window) >= floor, expr


def test_every_alert_carries_the_service_label() -> None:
    """Each firing case's exact labels include the identity label `job` (routing, grouping and
    inhibition need it), and never the old `service` target label."""
    for check in alert_checks():
        for expected in check["exp_alerts"]:
            assert expected["exp_labels"]["job"], check
            assert "service" not in expected["exp_labels"], check


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


SINCE_1H = (
    '{{ with query "clamp_min(vector(time() - 3600), 0) * 1000" }}{{ . | first | value | printf "%.0f" }}{{ end }}'
)


def test_links_are_templated_with_the_alert_labels() -> None:
    """Dashboard and trace-search links carry the alert's service (and breaker) as templates
    and open the alert's time range; the trace search is a TraceQL query in a Grafana Explore
    pane."""
    rule = next(rule for rule in alert_rules() if rule["alert"] == "CircuitBreakerOpen")
    links = rule["annotations"]
    assert links["dashboard_url"] == (
        "http://localhost:3000/d/rt-breakers?var-job={{ $labels.job | urlquery }}"
        "&var-instance={{ $labels.instance | urlquery }}&var-breaker={{ $labels.breaker_name | urlquery }}"
        f"&from={SINCE_1H}&to=now"
    )
    base, panes = links["trace_search_url"].split("&panes=", 1)
    assert base == "http://localhost:3000/explore?schemaVersion=1"
    filled = unquote(panes).replace("{{ $labels.job | urlquery }}", "api").replace(SINCE_1H, "1700000000000")
    pane = json.loads(filled.replace("{{ $labels.breaker_name | urlquery }}", "s3"))["a"]
    assert pane == {
        "datasource": "tempo",
        "queries": [
            {
                "refId": "A",
                "queryType": "traceql",
                "query": '{ resource.service.name = "api" && span.resilience.breaker.name = "s3" && status = error }',
            }
        ],
        "range": {"from": "1700000000000", "to": "now"},
    }


# How far before the notification each link starts: the longest window the alert reads plus
# its `for`, at least an hour (by the burn pair's long window for the SLO alerts).
LOOKBACK_SECONDS = {
    ("CircuitBreakerOpen", ""): 3600,
    ("DatabasePoolTimeouts", ""): 3600,
    ("ResilienceTelemetryAbsent", ""): 86400 + 300,
    ("HttpAvailabilityBudgetBurn", "1h"): 3600 + 120,
    ("HttpAvailabilityBudgetBurn", "6h"): 6 * 3600 + 900,
    ("HttpAvailabilityBudgetBurn", "1d"): 86400 + 3600,
    ("HttpLatencyBudgetBurn", "3d"): 3 * 86400 + 3 * 3600,
}


def test_links_open_the_alerts_time_range() -> None:
    """A page opened an hour after it fired still shows the moment it fired and what led to
    it: both links start the alert's lookback before the evaluation and end now."""
    seen = {}
    for rule in alert_rules():
        key = (rule["alert"], rule.get("labels", {}).get("long", ""))
        if key not in LOOKBACK_SECONDS:
            continue
        for link in ("dashboard_url", "trace_search_url"):
            url = unquote(rule["annotations"][link])
            starts = re.findall(r'with query "clamp_min\(vector\(time\(\) - (\d+)\), 0\) \* 1000"', url)
            assert len(starts) == 1, (key, link)
            seen[key, link] = int(starts[0])
        assert rule["annotations"]["dashboard_url"].endswith("&to=now")
        assert '"to":"now"' in unquote(rule["annotations"]["trace_search_url"])
    assert seen == {
        (key, link): value for key, value in LOOKBACK_SECONDS.items() for link in ("dashboard_url", "trace_search_url")
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
        query = parse_qsl(url.query)
        names = {key.removeprefix("var-") for key, _ in query if key.startswith("var-")}
        assert [key for key, _ in query if not key.startswith("var-")] == ["from", "to"], rule["alert"]
        assert RulesConfig().service_label in names
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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nope": 1}, "nope: unknown alert config key; the keys are the fields of RulesConfig (README, Alerts)"),
        (
            {"dependency_failure_ration": 0.2},
            "dependency_failure_ration: unknown alert config key; did you mean dependency_failure_ratio?",
        ),
        ({"dependency_failure_ratio": 2}, "dependency_failure_ratio: 2 is out of range; allowed: a ratio in (0, 1]"),
        ({"health_failure_ratio": 0}, "health_failure_ratio: 0 is out of range; allowed: a ratio in (0, 1]"),
        (
            {"availability_objective": 1},
            "availability_objective: 1 is out of range; allowed: an objective in (0, 1), e.g. 0.999",
        ),
        ({"breaker_flapping_opens": 0}, "breaker_flapping_opens: 0 is out of range; allowed: a whole number >= 1"),
        (
            {"retry_amplification": 1},
            "retry_amplification: 1 is out of range; allowed: a number > 1 (attempts per call)",
        ),
        ({"outbox_age_warning": -5}, "outbox_age_warning: -5 is out of range; allowed: a number of seconds > 0"),
        ({"dlq_inflow_threshold": "many"}, "dlq_inflow_threshold: 'many' is out of range; allowed: a number >= 0"),
        ({"slo_min_requests": 2.5}, "slo_min_requests: 2.5 is out of range; allowed: a whole number >= 0"),
        (
            {"breaker_pending": "1 minute"},
            "breaker_pending: '1 minute' is not allowed; allowed: a positive Prometheus duration such as 30s, 5m, 1h30m",
        ),
        ({"rate_window": "1m"}, "rate_window: 1m is shorter than 4x scrape_interval (30s); allowed: at least 120s"),
        ({"scrape_interval": "2m"}, "rate_window: 5m is shorter than 4x scrape_interval (2m); allowed: at least 480s"),
        ({"service_label": 5}, "service_label: 5 is not allowed; allowed: a string"),
        ({"breaker_pending": "5m"}, "breaker_pending: 5m must be shorter than breaker_not_closed_for (5m)"),
        (
            {"outbox_age_critical": 100},
            "outbox_age_critical: 100 is out of range; allowed: >= outbox_age_warning (300)",
        ),
        (
            {"dependency_failure_outcomes": ["boom"]},
            (
                "dependency_failure_outcomes: ['boom'] is not allowed; allowed: a non-empty subset of "
                "['success', 'client_error', 'server_error', 'throttled', 'connection_error', 'timeout']"
            ),
        ),
        (
            {"slo_windows": [{"long": "1h", "short": "5m", "factor": 10, "for": "2m", "severity": "page"}]},
            "slo_windows[0].severity: 'page' is not allowed; allowed: critical, warning, info",
        ),
        (
            {"team_routing": {"label": "team", "teams": {"pay": {"pager_url": "x"}}}},
            "team_routing.teams.pay: {'pager_url': 'x'} is not allowed; allowed: a mapping with pager_url and ticket_url",
        ),
    ],
)
def test_config_errors_are_one_line_naming_the_key_and_the_range(overrides: dict, message: str) -> None:
    """Unknown keys, out-of-range ratios and counts, durations that do not parse and windows
    shorter than the scrape allows fail with exactly one line naming the key and what is allowed."""
    with pytest.raises(ConfigError) as caught:
        RulesConfig.from_mapping(overrides)
    assert str(caught.value) == message


def test_config_validation() -> None:
    """Valid overrides pass: lists become tuples, `for` in an SLO window maps to `for_`."""
    with pytest.raises(ValueError, match="not allowed; allowed: a bucket"):
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


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            json.dumps({"alerts": {"nope": 1}}),
            "nope: unknown alert config key; the keys are the fields of RulesConfig (README, Alerts)",
        ),
        (
            json.dumps({"alerts": {"dependency_failure_ratio": 2}}),
            "dependency_failure_ratio: 2 is out of range; allowed: a ratio in (0, 1]",
        ),
        (json.dumps({"alert": {}}), "alert: unknown generator section; allowed: alerts, dashboards, metric-table"),
        ("[1, 2]", "the config must be a mapping of generator name -> options, e.g. {alerts: {...}}"),
    ],
)
def test_cli_exits_2_with_one_line_on_a_bad_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    """`resilience-telemetry generate --config` with a bad config exits 2 and prints one line,
    no traceback, and writes nothing."""
    path = tmp_path / "ops.json"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["generate", "--root", str(out), "--only", "alerts", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"resilience-telemetry: {path}: {message}\n")
    assert not out.exists()


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
    assert [bool(check["exp_alerts"]) for check in cycle["alert_rule_test"]] == [False, False, True, True]
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
    assert "older\nthan 130s for 1m: it hangs" in text or "older than 130s for 1m: it hangs" in text
    assert "(guard: 0.06 calls/s)" in text
