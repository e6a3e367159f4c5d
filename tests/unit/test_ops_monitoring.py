"""deploy/monitoring/, checked offline: promtool accepts the rules and passes their unit tests
(alerts.test.yml), every alert has a firing and a quiet case and a runbook line, the
PrometheusRule is the rules file, the dashboard is well formed, and the PromQL reader used by the
scrape test (tests/integration/test_ops_monitoring_scrape.py) finds every series selector."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import devstack
import monitoring
import pytest
import yaml
from promql import (
    MONITORING,
    RULES,
    Grouping,
    Selector,
    alerts,
    dashboard,
    expressions,
    grafana_to_promql,
    groupings,
    output_labels,
    panels,
    selectors,
)

REPO = Path(__file__).resolve().parents[2]
RULE_TESTS = MONITORING / "alerts.test.yml"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [devstack.find_binary("promtool"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules_and_the_prometheus_config() -> None:
    """`promtool check rules` (every linter, fatal) and `promtool check config` pass."""
    rules = _promtool("check", "rules", "--lint=all", "--lint-fatal", str(RULES))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    config = _promtool("check", "config", str(MONITORING / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    """`promtool test rules alerts.test.yml`: every case's alerts fire, or stay quiet, as written."""
    result = _promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_is_the_release_of_the_compose_prometheus() -> None:
    """install-tools.sh builds the promtool of the Prometheus release docker-compose.yml runs."""
    script = (REPO / "deploy/local/install-tools.sh").read_text()
    (version,) = re.findall(r"^PROMTOOL_VERSION=(\S+)", script, re.MULTILINE)
    major, minor, patch = version.split(".")
    assert f"promtool@v0.{int(major) * 100 + int(minor)}.{patch}" in script
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert compose["services"]["prometheus"]["image"] == f"prom/prometheus:v{version}"
    assert _promtool("--version").stdout.startswith(f"promtool, version {version} ")


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    """Each alert of alerts.yml is expected to fire in some case of alerts.test.yml and to stay
    quiet in another; no case names an alert that does not exist."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = set(alerts())
    assert len(names) >= 20
    assert names - firing == set(), "never seen firing"
    assert names - quiet == set(), "never seen quiet"
    assert (firing | quiet) - names == set(), "cases of unknown alerts"


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook_line() -> None:
    """Each alert is critical or warning, says what is happening and what to do, and the README's
    "Alerts and dashboards" table has a line for it."""
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Alerts and dashboards") :]
    section = section[: section.index("\n### ", 1)]
    for name, rule in alerts().items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
        assert f"| `{name}` |" in section, f"{name} has no line in the README's table"


def test_the_prometheus_rule_is_the_rules_file() -> None:
    """deploy/k8s/prometheus-rule.yaml is what `make monitoring` writes, and its spec holds exactly
    the groups of alerts.yml."""
    assert monitoring.main(["--check"]) == 0, "run `make monitoring`"
    document = yaml.safe_load(monitoring.PROMETHEUS_RULE.read_text())
    assert document["kind"] == "PrometheusRule"
    assert document["spec"] == yaml.safe_load(RULES.read_text())


def test_the_generator_keeps_comments_and_block_scalars() -> None:
    """The PrometheusRule is the rules text indented under spec: comments kept, block scalars
    (multi-line expressions) unchanged, blank lines left blank."""
    rules = "# intro\ngroups:\n# a group\n- name: g\n  rules:\n\n  - alert: A\n    expr: |\n      up\n        == 0\n"
    written = monitoring.prometheus_rule(rules)
    assert "# intro" not in written
    assert written.endswith(
        "spec:\n  groups:\n  # a group\n  - name: g\n    rules:\n\n    - alert: A\n    "
        + "".join(["  expr: |\n", "        up\n", "          == 0\n"])
    )
    assert yaml.safe_load(written)["spec"] == yaml.safe_load(rules)


# ---- the PromQL reader -------------------------------------------------------------------


def test_selectors_are_found_through_functions_aggregations_and_operators() -> None:
    """The reader finds every series selector with its matcher labels, and nothing else: not a
    `by` label, a function's name, a string argument or a label value that looks like a metric."""
    expression = """
        histogram_quantile(0.99, sum by (le, service) (rate(udb_grpc_server_request_duration_seconds_bucket{
            method!~".*/(WatchInvalidations|Subscribe)", service=~"a,b}c"}[5m])))
        > on (service) group_left
        max by (service) (label_replace(udb_pool_size offset 5m, "engine", "up", "service", "(.*)"))
        and absent(up{job="gateway"})
        or max_over_time((rate(udb_pool_waits_total[1m]))[10m:1m])
        unless {__name__="udb_pool_clients", engine="redis"}
    """
    assert selectors(expression) == [
        Selector("udb_grpc_server_request_duration_seconds_bucket", frozenset({"method", "service"})),
        Selector("udb_pool_size", frozenset()),
        Selector("up", frozenset({"job"})),
        Selector("udb_pool_waits_total", frozenset()),
        Selector("udb_pool_clients", frozenset({"engine"})),
    ]
    assert groupings(expression) == [
        Grouping(frozenset({"le", "service"}), frozenset({"udb_grpc_server_request_duration_seconds_bucket"})),
        Grouping(frozenset({"service"}), frozenset({"udb_pool_size"})),
    ]


def test_the_reader_refuses_what_prometheus_refuses() -> None:
    """An expression Prometheus would reject fails to parse rather than yielding a guess."""
    for broken in ("sum by (a (x)", "rate(x)", "x{a=b}", "x +"):
        with pytest.raises(ValueError):
            selectors(broken)


def test_grafana_variables_become_promql() -> None:
    """Dashboard queries parse once Grafana's variables are filled: intervals get a range, others a value."""
    query = 'sum by (route) (rate(udb_http_requests_total{route=~"$route", job="${job}"}[$__rate_interval]))'
    assert grafana_to_promql(query) == 'sum by (route) (rate(udb_http_requests_total{route=~"x", job="x"}[5m]))'
    assert selectors(grafana_to_promql(query)) == [Selector("udb_http_requests_total", frozenset({"route", "job"}))]


def test_a_recording_rule_s_labels_are_what_it_keeps_and_writes() -> None:
    """The labels a recorded series carries: its aggregation's `by` labels and label_replace's targets."""
    expression = 'label_replace(sum by (route, method) (rate(x[5m])), "engine", "$1", "route", "/api/(.*)")'
    assert output_labels(expression) == frozenset({"route", "method", "engine"})


# ---- the dashboard -----------------------------------------------------------------------


def test_the_dashboard_is_well_formed() -> None:
    """Unique panel ids on a 24-column grid with no overlap, every query on the dashboard's
    Prometheus variable, every expression valid PromQL, and rows for each part the issue names."""
    document = dashboard()
    assert document["uid"] == "udb-overview"
    assert [v["name"] for v in document["templating"]["list"]] == ["datasource"]
    ids: set[int] = set()
    cells: set[tuple[int, int]] = set()
    for panel in panels(document):
        assert panel["id"] not in ids, panel["title"]
        ids.add(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
    for where, expression in expressions().items():
        assert selectors(expression), where
    rows = [panel["title"] for panel in document["panels"] if panel["type"] == "row"]
    for part in ("HTTP", "gRPC", "Pools", "Subscriptions", "Audit", "Registry", "Envoy", "Circuit breakers"):
        assert any(part in row for row in rows), part


def test_the_breaker_alerts_and_panels_query_both_breaker_metrics() -> None:
    """The circuit breaker's alerts and dashboard panels query udb_breaker_open and
    udb_breaker_transitions_total (the scrape test checks that the engines export them)."""
    used = {name for expression in expressions().values() for name in re.findall(r"udb_breaker_\w+", expression)}
    assert used == {"udb_breaker_open", "udb_breaker_transitions_total"}
    assert "# ---- circuit breakers: reserved" not in RULES.read_text()
    titles = [panel["title"] for panel in panels()]
    assert "Targets failing fast" in titles and "Breaker transitions" in titles
