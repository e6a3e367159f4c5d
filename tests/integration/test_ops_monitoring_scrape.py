"""The alert rules and the dashboard against the running system: after a little traffic of each
kind (HTTP through Envoy and direct, every engine, a WebSocket subscription, a 429, audited
writes), every metric they query is exported by a process's /metrics or Envoy's
/stats/prometheus, with the labels they match and group on."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from harness import Servers, System, envoy_for, own_gateway, tls_context
from promql import expressions, groupings, output_labels, recorded, selectors
from websockets.asyncio.client import connect

from udb import metrics

pytestmark = pytest.mark.integration

#: Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})
#: Series Prometheus makes itself rather than scraping them.
PROMETHEUS_SERIES = {
    "up": TARGET_LABELS,
    "ALERTS": frozenset({"alertname", "alertstate", "severity"}),
}

Exported = dict[str, frozenset[str]]


_SAMPLE_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_PAIR = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"(?:[^"\\]|\\.)*"\s*,?')


def exported(text: str) -> Exported:
    """Each sample name of a Prometheus text exposition, as written (as Prometheus stores it:
    Envoy's counters have no ``_total``), with every label name it carries."""
    labels: defaultdict[str, set[str]] = defaultdict(set)
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name = _SAMPLE_NAME.match(line)
        assert name is not None, line
        found = labels[name.group()]
        position = name.end()
        if line[position : position + 1] == "{":
            position += 1
            while (pair := _LABEL_PAIR.match(line, position)) is not None:
                found.add(pair.group(1))
                position = pair.end()
            assert line[position : position + 1] == "}", line
    return {name: frozenset(found) for name, found in labels.items()}


async def drive_traffic(system: System, servers: Servers, edge_url: str, edge_tls: object) -> None:
    """Requests of every kind the rules and panels count, so that their labelled series exist."""
    async with httpx.AsyncClient(base_url=edge_url, verify=edge_tls, timeout=10) as edge:  # type: ignore[arg-type]
        assert (await edge.get("/health")).status_code == 200
        assert (await edge.get("/projects", headers=system.headers("scrape-user"))).status_code == 200
        assert (await edge.get("/no-such-route")).status_code == 404

    ref, owner = await system.new_project()
    headers = system.headers(owner)
    http = system.http
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    await system.add_connection(ref, owner, "mongodb", {"identifier": "main", "uri": servers.mongo_url})
    pg_url = await servers.create_database(f"udb_scrape_{uuid.uuid4().hex[:8]}")
    await system.add_connection(ref, owner, "pg-meta", {"identifier": "main", "uri": pg_url})

    key = f"scrape-{uuid.uuid4().hex[:8]}"
    created = await http.post(f"/redis/{ref}/keys/{key}", json={"type": "string", "value": "1"}, headers=headers)
    assert created.status_code == 201, created.text
    assert (await http.get(f"/redis/{ref}/keys/{key}", headers=headers)).status_code == 200
    assert (await http.get(f"/redis/{ref}/keys/missing-{key}", headers=headers)).status_code == 404
    inserted = await http.post(
        f"/mongodb/{ref}/databases/scrape/collections/things/documents", json={"name": "a"}, headers=headers
    )
    assert inserted.status_code == 201, inserted.text
    assert (await http.get(f"/mongodb/{ref}/databases", headers=headers)).status_code == 200
    assert (await http.get(f"/pg-meta/{ref}/tables", headers=headers)).status_code == 200
    assert (await http.post(f"/pg-meta/{ref}/query", json={"query": "select 1"}, headers=headers)).status_code == 200

    url = f"ws://127.0.0.1:{system.ports['gateway']}/api/platform/redis/{ref}/pubsub/subscribe"
    async with connect(f"{url}?channels=scrape&access_token={system.token(owner)}") as socket:
        assert json.loads(await asyncio.wait_for(socket.recv(), 10))["type"] == "subscribe"

    async with own_gateway(system, RATE_LIMIT_READ_PER_S="0.01", RATE_LIMIT_READ_BURST="1") as (limited, _):
        statuses = [(await limited.get("/projects", headers=headers)).status_code for _ in range(2)]
    assert statuses == [200, 429]


@pytest_asyncio.fixture(scope="module")
async def scrape(system: System, servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Exported]:
    """What the services' /metrics and Envoy's /stats/prometheus export after the traffic."""
    async with envoy_for(system, tmp_path_factory.mktemp("envoy")) as envoy:
        await drive_traffic(system, servers, envoy.urls["envoy-tls"], tls_context(envoy))
        # The five services run in this process and share one registry: its /metrics is theirs.
        server = await metrics.serve_metrics("127.0.0.1:0")
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                ours = await http.get(f"http://127.0.0.1:{server.port}/metrics")
                envoys = await http.get(f"http://127.0.0.1:{envoy.ports['envoy-metrics']}/stats/prometheus")
        finally:
            await server.close()
    assert ours.status_code == 200 and envoys.status_code == 200
    yield {**exported(ours.text), **exported(envoys.text)}


def _labels_of(metric: str, scraped: Exported) -> frozenset[str] | None:
    """The label names a metric's series carry in Prometheus, or None when nothing makes it."""
    if metric in scraped:
        return scraped[metric] | TARGET_LABELS
    if metric in PROMETHEUS_SERIES:
        return PROMETHEUS_SERIES[metric]
    records = recorded()
    if metric in records:
        return output_labels(records[metric])
    return None


def test_the_scrape_holds_the_traffic_of_each_kind(scrape: Exported) -> None:
    """The services and Envoy were scraped after traffic: labelled series of every family exist."""
    for name in (
        "udb_http_requests_total",
        "udb_http_rate_limited_total",
        "udb_http_active_websockets",
        "udb_pubsub_subscribers",
        "udb_grpc_server_requests_total",
        "udb_pool_in_use",
        "udb_audit_events_total",
        "udb_registry_watch_up",
        "envoy_cluster_upstream_rq",
        "envoy_server_days_until_first_cert_expiring",
    ):
        assert name in scrape, name
    assert "route_class" in scrape["udb_http_rate_limited_total"]
    assert {"service", "engine"} <= scrape["udb_pool_in_use"]


def test_every_metric_of_the_rules_and_the_dashboard_is_exported(scrape: Exported) -> None:
    """Each series selector of every alert, recording rule and panel names a metric that a process
    or Envoy exports (or a rule records, or Prometheus makes), and matches only labels it has."""
    problems = []
    for where, expression in expressions().items():
        for selector in selectors(expression):
            labels = _labels_of(selector.metric, scrape)
            if labels is None:
                problems.append(f"{where}: no process exports {selector.metric}")
            elif not selector.labels <= labels:
                problems.append(f"{where}: {selector.metric} has no label {sorted(selector.labels - labels)}")
    assert not problems, "\n".join(problems)


def test_every_label_the_rules_and_the_dashboard_group_by_exists(scrape: Exported) -> None:
    """Each ``by (...)`` label is carried by a metric it aggregates (a typo would group everything
    into one series)."""
    problems = []
    for where, expression in expressions().items():
        for grouping in groupings(expression):
            carried: set[str] = set()
            for metric in grouping.metrics:
                carried |= _labels_of(metric, scrape) or set()
            if missing := grouping.labels - carried:
                problems.append(f"{where}: by {sorted(missing)}, not on {sorted(grouping.metrics)}")
    assert not problems, "\n".join(problems)
