"""The deployment files, checked offline as CI runs them: Envoy's template renders and validates
with Envoy itself, the Kubernetes manifests match the Kubernetes schemas (kubernetes-validate's
bundled copies; the PrometheusRule its CRD's schema, bundled in deploy/schemas),
docker-compose.yml matches the Compose Specification, and each holds the operational rules the
issue sets (health checks, non-root, secrets by reference, retries only on connect failure,
autoscalers and disruption budgets, every process scraped)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import devstack
import jsonschema
import manifests
import pytest
import yaml

from udb.config import DEFAULT_METRICS_ADDRESSES

REPO = Path(__file__).resolve().parents[2]
SERVICES = {"registry": "registry", "redis-svc": "redis_svc", "mongo-svc": "mongo_svc", "pg-svc": "pg_svc"}
GRPC_PORTS = {"registry": 50051, "redis-svc": 50052, "mongo-svc": 50053, "pg-svc": 50054, "gateway": 50050}


# ---- Envoy -----------------------------------------------------------------------------------


def _render(tmp_path: Path, **values: object) -> Path:
    cert, key = devstack.make_tls_pair(tmp_path / "tls")
    return devstack.render_envoy_config(tmp_path / "envoy.yaml", {"TLS_CERT_FILE": cert, "TLS_KEY_FILE": key, **values})


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="container-defaults"),
        pytest.param(
            {"LISTEN_ADDRESS": "127.0.0.1", "GATEWAY_HOST": "127.0.0.1", "EDGE_PORT": 18443, "INTERNAL_PORT": 18080},
            id="local",
        ),
    ],
)
def test_envoy_template_renders_and_envoy_validates_it(tmp_path: Path, values: dict[str, object]) -> None:
    """render.sh fills every placeholder and `envoy --mode validate` accepts the result."""
    config = _render(tmp_path, **values)
    assert not re.search(r"\$\{[A-Z_]", config.read_text())
    result = subprocess.run(
        [devstack.find_binary("envoy"), "--mode", "validate", "-c", str(config), "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_render_refuses_a_placeholder_it_does_not_know(tmp_path: Path) -> None:
    """A template naming an unknown variable fails to render (exit 2) rather than reaching Envoy."""
    template = tmp_path / "t.yaml"
    template.write_text("a: ${EDGE_PORT}\nb: ${NO_SUCH_VARIABLE}\n")
    result = subprocess.run(
        ["sh", str(REPO / "deploy/envoy/render.sh"), str(template), str(tmp_path / "out.yaml")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
    )
    assert result.returncode == 2
    assert "NO_SUCH_VARIABLE" in result.stderr


def _routes(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for listener in config["static_resources"]["listeners"]:
        for chain in listener["filter_chains"]:
            manager = chain["filters"][0]["typed_config"]
            for host in manager["route_config"]["virtual_hosts"]:
                found.extend((listener["name"], route) for route in host["routes"])
    return found


def test_envoy_routes_retry_only_on_connect_failure_with_a_timeout_each(tmp_path: Path) -> None:
    """Every proxied route has its own timeout and retries only when no connection was made;
    every upstream but the admin interface is health-checked; the edge is TLS and rate limited."""
    config = yaml.safe_load(_render(tmp_path).read_text())
    proxied = [(listener, route) for listener, route in _routes(config) if route["route"]["cluster"] != "envoy_admin"]
    assert len(proxied) >= 10
    for listener, route in proxied:
        assert "timeout" in route["route"], (listener, route["match"])
        assert route["route"]["retry_policy"]["retry_on"] == "connect-failure", (listener, route["match"])
    edge_paths = {route["match"].get("prefix") for listener, route in proxied if listener == "edge"}
    assert edge_paths == {"/api/platform/"}
    clusters = {cluster["name"]: cluster for cluster in config["static_resources"]["clusters"]}
    for name in ("gateway", "registry", "redis_svc", "mongo_svc", "pg_svc"):
        assert clusters[name]["health_checks"], name
    edge = config["static_resources"]["listeners"][0]
    assert edge["filter_chains"][0]["transport_socket"]["name"] == "envoy.transport_sockets.tls"
    filters = [f["name"] for f in edge["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]]
    assert filters == ["envoy.filters.http.local_ratelimit", "envoy.filters.http.router"]


# ---- Kubernetes ------------------------------------------------------------------------------


def _kustomization() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "deploy/kustomization.yaml").read_text())
    return document


def _manifests() -> list[dict[str, Any]]:
    documents = []
    for resource in _kustomization()["resources"]:
        documents.extend(d for d in yaml.safe_load_all((REPO / "deploy" / resource).read_text()) if d)
    return documents


def test_kubernetes_manifests_match_the_kubernetes_schemas() -> None:
    """Every manifest the kustomization applies is valid (strictly: no unknown field) for Kubernetes 1.33,
    the PrometheusRule for the Prometheus Operator's CRD."""
    documents = _manifests()
    assert len(documents) >= 25
    assert [d["kind"] for d in documents].count("PrometheusRule") == 1
    for document in documents:
        manifests.validate(document)


def test_a_custom_resource_is_checked_against_its_crd_not_skipped() -> None:
    """A PrometheusRule with a misspelt field, a wrong type or no expression is refused, as the
    cluster's API server would; a kind with no bundled schema is refused rather than passed."""
    (rule,) = [d for d in _manifests() if d["kind"] == "PrometheusRule"]
    manifests.validate(rule)
    first = rule["spec"]["groups"][0]["rules"][0]
    broken = [
        {**rule, "spec": {**rule["spec"], "group": []}},
        {**rule, "spec": {"groups": [{"name": "g", "rules": [{**first, "exprr": "up"}]}]}},
        {**rule, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "for": "ten minutes", "expr": "up"}]}]}},
        {**rule, "spec": {"groups": [{"name": "g", "rules": [{"alert": "A"}]}]}},
        {**rule, "kind": "ServiceMonitor"},
    ]
    for document in broken:
        with pytest.raises(manifests.ManifestError):
            manifests.validate(document)


def test_kubernetes_manifests_hold_the_operational_rules() -> None:
    """Deployments probe gRPC health (readiness; liveness by its own name), run as non-root with
    secrets by reference; the gateway and the engine services autoscale; every deployment has a
    disruption budget."""
    documents = _manifests()
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for document in documents:
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
    deployments = by_kind["Deployment"]
    assert set(deployments) == {*GRPC_PORTS, "envoy"}
    for name, port in GRPC_PORTS.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        for probe in ("readinessProbe", "startupProbe"):
            assert container[probe]["grpc"] == {"port": port}, (name, probe)
        # Liveness is the process, not its dependencies: a database outage never restarts pods.
        assert container["livenessProbe"]["grpc"] == {"port": port, "service": "liveness"}, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        for variable in container.get("env", []):
            if re.search(r"SECRET|KEY|DATABASE_URL|PASSWORD", variable["name"]):
                assert "secretKeyRef" in variable["valueFrom"], (name, variable["name"])
    assert set(by_kind["HorizontalPodAutoscaler"]) == {"gateway", "redis-svc", "mongo-svc", "pg-svc"}
    assert set(by_kind["PodDisruptionBudget"]) == set(deployments)
    assert all(kind != "Secret" for kind in by_kind)
    generators = {generator["name"]: generator for generator in _kustomization()["configMapGenerator"]}
    assert set(generators["udb-envoy"]["files"]) == {"envoy/envoy.yaml", "envoy/render.sh"}
    assert generators["udb-grafana-dashboard"]["files"] == ["monitoring/grafana/dashboards/udb.json"]
    assert generators["udb-grafana-dashboard"]["options"]["labels"] == {"grafana_dashboard": "1"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed (its kustomize is optional)")
def test_the_kustomization_builds() -> None:
    """`kubectl kustomize deploy/` builds the whole set, with Envoy's ConfigMap generated from its
    template and Grafana's from the dashboard, every document valid."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy")], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    documents = [d for d in yaml.safe_load_all(result.stdout) if d]
    for document in documents:
        manifests.validate(document)
    kinds = [d["kind"] for d in documents]
    assert kinds.count("Deployment") == 6
    assert kinds.count("ConfigMap") == 3
    assert kinds.count("PrometheusRule") == 1
    (dashboard,) = [d for d in documents if d["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert json.loads(dashboard["data"]["udb.json"]) == json.loads(
        (REPO / "deploy/monitoring/grafana/dashboards/udb.json").read_text()
    )


# ---- docker compose and the images -----------------------------------------------------------


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return document


def test_compose_file_matches_the_compose_specification() -> None:
    """docker-compose.yml is valid against the Compose Specification's schema."""
    schema = json.loads((REPO / "deploy/schemas/compose-spec.json").read_text())
    # The file names its draft without the trailing "#" that jsonschema looks up: say it here.
    jsonschema.Draft7Validator(schema).validate(_compose())


def test_compose_brings_up_everything_healthy_and_in_order() -> None:
    """Postgres, Redis, the real MongoDB 7, Envoy and the five services, each health-checked, each
    started after what it needs is healthy; no secret is written in the file."""
    services = _compose()["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "platform-redis",
        "mongodb",
        "envoy",
        "gateway",
        *SERVICES,
        "prometheus",
        "grafana",
    }
    assert services["mongodb"]["image"] == "mongo:7"
    for name, service in services.items():
        assert "test" in service["healthcheck"], name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services and condition == {"condition": "service_healthy"}, (name, dependency)
    assert set(services["gateway"]["depends_on"]) == set(SERVICES)
    assert services["envoy"]["depends_on"] == {"gateway": {"condition": "service_healthy"}}
    # Prometheus waits for nobody (it must see the others fail); Grafana waits for Prometheus.
    assert "depends_on" not in services["prometheus"]
    assert services["grafana"]["depends_on"] == {"prometheus": {"condition": "service_healthy"}}
    for name in (*SERVICES, "gateway"):
        assert services[name]["build"]["dockerfile"] == f"services/{name}/Dockerfile"
        for key, value in services[name]["environment"].items():
            if re.search(r"SECRET|KEY|DATABASE_URL|PASSWORD", key):
                assert str(value).startswith("${") or "${" in str(value), (name, key)


def test_compose_prometheus_scrapes_every_process_and_grafana_shows_the_dashboard() -> None:
    """Prometheus scrapes the six processes, each at the metrics address compose gives it (every
    replica of a service: its name's A records), with
    the rules mounted beside its config; Grafana mounts its provisioning and the dashboard where
    the provisioning looks, with Prometheus as its datasource."""
    services = _compose()["services"]
    monitoring = REPO / "deploy/monitoring"
    config = yaml.safe_load((monitoring / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {*SERVICES, "gateway", "envoy"}
    for name in (*SERVICES, "gateway"):
        variable = DEFAULT_METRICS_ADDRESSES[name][0]
        host, _, port = services[name]["environment"][variable].rpartition(":")
        assert host == "0.0.0.0", name
        assert jobs[name]["dns_sd_configs"] == [{"names": [name], "type": "A", "port": int(port)}]
    assert jobs["envoy"]["static_configs"] == [{"targets": ["envoy:9902"]}]
    assert jobs["envoy"]["metrics_path"] == "/stats/prometheus"
    assert "9902:9902" in " ".join(services["envoy"]["ports"])
    assert config["rule_files"] == ["alerts.yml"]
    assert set(services["prometheus"]["volumes"]) >= {
        "./deploy/monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
        "./deploy/monitoring/alerts.yml:/etc/prometheus/alerts.yml:ro",
    }
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]

    grafana = services["grafana"]
    mounts = dict(volume.rsplit(":", 1)[0].split(":", 1) for volume in grafana["volumes"] if volume.startswith("./"))
    assert mounts["./deploy/monitoring/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((monitoring / "grafana/provisioning/dashboards/udb.yml").read_text())["providers"][0]
    assert mounts["./deploy/monitoring/grafana/dashboards"] == provider["options"]["path"]
    datasource = yaml.safe_load((monitoring / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    for name in ("prometheus", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
def test_each_service_image_is_small_non_root_and_health_checked(name: str) -> None:
    """Each Dockerfile builds in two stages, copies only the shared package and its service, runs as
    a numeric non-root user and checks its own gRPC health."""
    text = (REPO / "services" / name / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) == 2
    (user,) = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user.split(":")[0].isdigit() and user.split(":")[0] != "0"
    assert f'"--address", "127.0.0.1:{GRPC_PORTS[name]}"' in text
    package = SERVICES.get(name, "gateway")
    assert f'ENTRYPOINT ["python", "-m", "{package}"]' in text
    for source in re.findall(r"^COPY (?!--from)(\S+)", text, re.MULTILINE):
        assert (REPO / source).exists(), source


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """`docker compose config` (no engine needed) accepts the file, given the secrets it requires."""
    probe = (
        subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if shutil.which("docker")
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("docker compose is not installed here (make validate-deploy-tools builds it)")
    env = {
        **os.environ,
        "JWT_SECRET": "x",
        "POSTGRES_PASSWORD": "x",
        "DATABASE_ENCRYPTION_KEY": "x",
        "GRAFANA_ADMIN_PASSWORD": "x",
    }
    devstack.make_tls_pair(REPO / "deploy/envoy/certs")
    result = subprocess.run(
        ["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    missing = subprocess.run(
        ["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if k != "JWT_SECRET"},
        timeout=60,
        check=False,
    )
    assert missing.returncode != 0
    assert "JWT_SECRET" in missing.stderr
