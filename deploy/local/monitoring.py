"""deploy/k8s/prometheus-rule.yaml, written from deploy/monitoring/alerts.yml (the one source).

    python deploy/local/monitoring.py            # `make monitoring`: write the PrometheusRule
    python deploy/local/monitoring.py --check    # exit 1 when the committed file is not what it writes

The PrometheusRule's ``spec`` is the rules file's text, indented, comments included: the
Prometheus Operator and a plain Prometheus load the same groups, and a review reads the same lines.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "monitoring" / "alerts.yml"
PROMETHEUS_RULE = REPO / "deploy" / "k8s" / "prometheus-rule.yaml"

HEADER = """\
# Written by `make monitoring` from deploy/monitoring/alerts.yml: edit that file, not this one
# (tests/unit/test_ops_monitoring.py fails when the two differ). The Prometheus Operator loads it;
# add the label your Prometheus's ruleSelector asks for (see README, "Alerts and dashboards").
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: udb-alerts
  labels: {app.kubernetes.io/name: udb-alerts}
spec:
"""


def prometheus_rule(rules_text: str) -> str:
    """The PrometheusRule manifest holding the rules file's groups (its leading comment left out)."""
    lines = rules_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = "".join(f"  {line}\n" if line else "\n" for line in lines[start:])
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing it")
    args = parser.parse_args(argv)
    expected = prometheus_rule(RULES.read_text())
    if args.check:
        if not PROMETHEUS_RULE.exists() or PROMETHEUS_RULE.read_text() != expected:
            print(f"{PROMETHEUS_RULE.relative_to(REPO)} is out of date: run `make monitoring`", file=sys.stderr)
            return 1
        return 0
    PROMETHEUS_RULE.write_text(expected)
    print(f"wrote {PROMETHEUS_RULE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
