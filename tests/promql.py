"""The PromQL of deploy/monitoring/ (alert rules, recording rules, dashboard panels), and the series
each expression selects, read with a real PromQL parser (``promql-parser``), not a regex."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

REPO = Path(__file__).resolve().parents[1]
MONITORING = REPO / "deploy" / "monitoring"
RULES = MONITORING / "alerts.yml"
DASHBOARD = MONITORING / "grafana" / "dashboards" / "udb.json"

#: Grafana's interval variables, given a concrete range so that the expression parses.
_GRAFANA_INTERVALS = re.compile(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}")
#: Any other dashboard variable ($name or ${name}), only ever used inside label values here.
_GRAFANA_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


@dataclass(frozen=True)
class Selector:
    """One series selector of an expression: the metric's name and the label names it matches on."""

    metric: str
    labels: frozenset[str]


@dataclass(frozen=True)
class Grouping:
    """An aggregation ``by (labels)`` and the metrics it aggregates: each label must be on them."""

    labels: frozenset[str]
    metrics: frozenset[str]


def _selector(node: promql_parser.VectorSelector) -> Selector:
    matchers = node.matchers.matchers
    name = node.name or next((m.value for m in matchers if m.name == "__name__"), "")
    return Selector(name, frozenset(m.name for m in matchers if m.name != "__name__"))


def _walk(expression: promql_parser.Expr) -> tuple[list[Selector], list[Grouping]]:
    found: list[Selector] = []
    groupings: list[Grouping] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            found.append(_selector(node))
        elif (
            isinstance(node, promql_parser.AggregateExpr)
            and node.modifier is not None
            and node.modifier.type == promql_parser.AggModifierType.By
        ):
            inner = frozenset(selector.metric for selector in _walk(node.expr)[0])
            groupings.append(Grouping(frozenset(node.modifier.labels), inner))
        return True

    promql_parser.walk(expression, visit)
    return found, groupings


def selectors(expression: str) -> list[Selector]:
    """Every series selector of a PromQL expression, in order (functions, aggregations, binary
    operators, subqueries and offsets walked by the parser)."""
    return _walk(promql_parser.parse(expression))[0]


def groupings(expression: str) -> list[Grouping]:
    """Every ``by (...)`` aggregation of a PromQL expression, outermost first."""
    return _walk(promql_parser.parse(expression))[1]


def output_labels(expression: str) -> frozenset[str]:
    """The labels a recording rule's series carry: those its aggregations keep (``by``) and
    those ``label_replace``/``label_join`` write."""
    labels: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.Call) and node.func.name in ("label_replace", "label_join"):
            labels.add(node.args[1].val)
        return True

    parsed = promql_parser.parse(expression)
    promql_parser.walk(parsed, visit)
    kept = _walk(parsed)[1]
    return frozenset(labels | (set(kept[0].labels) if kept else set()))


def grafana_to_promql(expression: str) -> str:
    """A dashboard query as Prometheus would receive it: interval variables become 5m, other
    variables a placeholder value."""
    return _GRAFANA_VARIABLE.sub("x", _GRAFANA_INTERVALS.sub("5m", expression))


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def rules() -> Iterator[dict[str, Any]]:
    for group in rule_groups():
        yield from group["rules"]


def alerts() -> dict[str, dict[str, Any]]:
    """Every alerting rule, by name."""
    return {rule["alert"]: rule for rule in rules() if "alert" in rule}


def recorded() -> dict[str, str]:
    """Every recording rule's expression, by the name it records."""
    return {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def panels(document: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every panel of the dashboard, those inside collapsed rows included."""
    for panel in (document or dashboard())["panels"]:
        yield panel
        yield from panel.get("panels", [])


def expressions() -> dict[str, str]:
    """Every PromQL expression of the rules and the dashboard, by where it is."""
    found = {f"rule {rule.get('alert') or rule.get('record')}": str(rule["expr"]) for rule in rules()}
    for panel in panels():
        for target in panel.get("targets", []):
            found[f"panel {panel['title']!r} {target['refId']}"] = grafana_to_promql(target["expr"])
    return found
