"""Docs that send queries somewhere: every metric name, selector and PromQL expression in README.md
and docs/*.md names catalog series and labels, and the PromQL parses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from telemetry import catalog
from telemetry.testing import require_service

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SERIES = {name: spec for spec in catalog.CATALOG for name in spec.series_names}
# Names prose may use besides series: a histogram's family name, and label names.
KNOWN = (
    set(SERIES) | {spec.prom for spec in catalog.CATALOG} | {n for spec in catalog.CATALOG for n in spec.label_names}
)
# Labels every series carries once scraped (the scrape target's), and the histogram bucket bound.
TARGET_LABELS = {"job", "instance", "service"}
# What a metric name of this package looks like in prose; `_max`-style suffix shorthand is not one.
_NAME = re.compile(r"(?<![\w.])((?:resilience|db_client|http_server)_[a-z0-9_]*[a-z0-9])(?![\w.])")
_CODE_BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:(?:=~|!~|!=|=)\s*(?:"[^"]*"(?:\|"[^"]*")*|[\w|.*-]+))?\s*')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
# A code span is a query (not label-list notation) when it calls a function or compares a selector.
_PROMQL = re.compile(
    r"\b(?:rate|increase|sum|max|histogram_quantile|max_over_time|min_over_time)\s*\(|\}\s*(?:[<>=!]=|[<>])"
)


def code_pieces(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block and inline code span (language ``span``)."""
    pieces = [(lang, body) for lang, body in _CODE_BLOCK.findall(text)]
    outside = _CODE_BLOCK.sub("", text)
    return pieces + [("span", span) for span in _CODE_SPAN.findall(outside)]


def labels_of(code: str) -> list[tuple[str, set[str]]]:
    """Each ``metric{...}`` selector in ``code`` and the label names it uses (matchers or a list)."""
    found = []
    for metric, inner in _SELECTOR.findall(code):
        if not _NAME.fullmatch(metric):
            continue  # not one of ours (an OpenTelemetry dotted name, a shell brace)
        names = set()
        for part in filter(str.strip, inner.replace("\\|", "|").split(",")):
            match = _MATCHER.fullmatch(part)
            assert match is not None, f"cannot read the matcher {part!r} in {code!r}"
            names.add(match.group(1))
        found.append((metric, names))
    return found


def problems(path: Path) -> list[str]:
    """What in one document names no catalog series or label."""
    text = path.read_text(encoding="utf-8")
    found = [f"{name} is no catalog series" for name in sorted(set(_NAME.findall(text))) if name not in KNOWN]
    for _lang, code in code_pieces(text):
        for metric, names in labels_of(code):
            if metric not in SERIES:
                continue
            allowed = (
                TARGET_LABELS | set(SERIES[metric].label_names) | ({"le"} if metric.endswith("_bucket") else set())
            )
            found += [f"{metric}{{{label}}}: {label} is not a label of {metric}" for label in sorted(names - allowed)]
        metrics = [name for name in _NAME.findall(code) if name in SERIES]
        for group in _GROUPING.findall(code):
            allowed = TARGET_LABELS | {"le"} | {label for name in metrics for label in SERIES[name].label_names}
            found += [
                f"by ({label}) in {code!r}: no metric there has it"
                for label in (name.strip() for name in group.split(","))
                if label and label not in allowed
            ]
    return found


def promql_expressions(path: Path) -> list[str]:
    """The PromQL a reader would paste: ``promql`` blocks, and code spans calling a PromQL function on a
    catalog series."""
    exprs = []
    for lang, code in code_pieces(path.read_text(encoding="utf-8")):
        if lang == "promql":
            exprs.append(code.strip())
        elif lang == "span" and _PROMQL.search(code) and any(n in SERIES for n in _NAME.findall(code)):
            exprs.append(code.replace("\\|", "|"))
    return exprs


@pytest.mark.parametrize("path", DOCS, ids=[path.relative_to(ROOT).as_posix() for path in DOCS])
def test_every_metric_selector_and_label_in_the_docs_is_in_the_catalog(path: Path) -> None:
    """A user who copies a metric name or selector from the docs gets a series that exists, with its labels."""
    assert problems(path) == []


def test_the_check_catches_a_wrong_label_and_an_unknown_name(tmp_path: Path) -> None:
    """The check is not vacuous: the old `db_client_connection_count{state=idle|used}` and a made-up name fail."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        "Pools: `db_client_connection_count{state=idle|used}`; retries: `resilience_retry_made_up_total`.\n"
        "```promql\nsum by (queue) (rate(resilience_retry_calls_total[5m]))\n```\n",
        encoding="utf-8",
    )
    assert problems(doc) == [
        "resilience_retry_made_up_total is no catalog series",
        "by (queue) in 'sum by (queue) (rate(resilience_retry_calls_total[5m]))\\n': no metric there has it",
        "db_client_connection_count{state}: state is not a label of db_client_connection_count",
    ]


def test_the_docs_promql_parses(tmp_path: Path) -> None:
    """Every PromQL expression shown in the docs is valid PromQL for promtool."""
    promtool = shutil.which("promtool")
    require_service(promtool is not None, "promtool (scripts/install-tools.sh)")
    assert promtool is not None
    exprs = [expr for path in DOCS for expr in promql_expressions(path)]
    assert len(exprs) >= 5, exprs
    rules = [{"record": f"docs:expr_{i}:check", "expr": expr} for i, expr in enumerate(exprs)]
    rules_file = tmp_path / "docs.rules.yml"
    rules_file.write_text(json.dumps({"groups": [{"name": "docs", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr + "\n".join(exprs)
