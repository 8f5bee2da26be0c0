"""The Grafana dashboard and the Prometheus alerts only use metrics (and labels) the services really export,
collected from every metric constructor in the sources, and the alerts' runbook links exist."""

from __future__ import annotations

import ast
import json
import re
from functools import cache

import pytest
import yaml

from .support import DEPLOY, ROOT

SOURCES = [ROOT / "shared" / "src", *sorted((ROOT / "services").glob("*/src"))]
KINDS = {"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum"}
SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
    "Info": ("_info",),
    "Enum": ("",),
}
SCRAPE_LABELS = {"job", "instance", "le", "namespace", "pod", "service", "container", "endpoint"}
"""Labels Prometheus or the histogram format add; any metric may carry them (``endpoint`` is also ingest's own)."""
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
DASHBOARD = DEPLOY / "grafana" / "peerscore.json"


@cache
def exported_metrics() -> dict[str, set[str]]:
    """Series name -> label names, for every prometheus_client metric constructed in the services' sources."""
    series: dict[str, set[str]] = {}
    for source in SOURCES:
        for path in source.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                kind = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if kind not in KINDS or not node.args or not isinstance(node.args[0], ast.Constant):
                    continue
                name = str(node.args[0].value)
                labels = _label_names(node)
                base = name.removesuffix("_total") if kind == "Counter" else name
                for suffix in SUFFIXES[kind]:
                    series[base + suffix] = labels
    return series


def _label_names(call: ast.Call) -> set[str]:
    candidates = [k.value for k in call.keywords if k.arg == "labelnames"] + call.args[2:3]
    for candidate in candidates:
        if isinstance(candidate, ast.List | ast.Tuple):
            return {str(e.value) for e in candidate.elts if isinstance(e, ast.Constant)}
    return set()


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def dashboard_expressions() -> dict[str, str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {
        f"{panel['title']} [{target['refId']}]": target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }


def check_expression(expr: str, exported: dict[str, set[str]]) -> list[str]:
    problems = []
    used = set(re.findall(r"\b(peerscore_[a-z0-9_]+)", expr))
    if not used and not re.search(r"\bup\{", expr):
        problems.append("uses no Peerscore metric")
    for metric in sorted(used - set(exported)):
        problems.append(f"{metric} is not exported by any service")
    for metric, matchers in re.findall(r"\b(peerscore_[a-z0-9_]+)\{([^}]*)\}", expr):
        for label in re.findall(r"([a-zA-Z_]+)\s*=~?", matchers):
            if label not in exported.get(metric, set()) | SCRAPE_LABELS:
                problems.append(f"{metric} has no label {label}")
    known = set().union(*(exported.get(m, set()) for m in used)) | SCRAPE_LABELS
    for grouping in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        for label in (part.strip() for part in grouping.split(",") if part.strip()):
            if label not in known:
                problems.append(f"grouped by {label}, which none of {sorted(used)} has")
    return problems


def test_the_sources_export_the_known_core_metrics() -> None:
    exported = exported_metrics()
    assert exported["peerscore_consumer_lag"] == {"group"}
    assert {
        "peerscore_ingest_events_total",
        "peerscore_crm_upserts_total",
        "peerscore_scoring_events_applied_total",
    } <= set(exported)
    assert "peerscore_ingest_request_seconds_bucket" in exported


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_expressions_use_exported_metrics_and_labels(source: str) -> None:
    exported = exported_metrics()
    expressions = alert_expressions() if source == "alerts" else dashboard_expressions()
    assert len(expressions) >= 8
    problems = {name: p for name, expr in expressions.items() if (p := check_expression(expr, exported))}
    assert problems == {}


def test_the_check_catches_an_unknown_metric_or_label() -> None:
    exported = exported_metrics()
    assert check_expression("rate(peerscore_made_up_total[5m])", exported) == [
        "peerscore_made_up_total is not exported by any service"
    ]
    assert check_expression('sum by (colour) (peerscore_consumer_lag{flavour="x"})', exported) == [
        "peerscore_consumer_lag has no label flavour",
        "grouped by colour, which none of ['peerscore_consumer_lag'] has",
    ]


def test_alerts_are_well_formed_and_link_to_the_runbook() -> None:
    runbook = (DEPLOY / "README.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    assert len({r["alert"] for r in rules}) == len(rules)
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        link = rule["annotations"].get("runbook")
        if link:
            path, _, anchor = link.partition("#")
            assert (ROOT / path).exists() and anchor in anchors, link


def test_dashboard_is_importable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource"}
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
