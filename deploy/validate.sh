#!/usr/bin/env bash
# `make validate-deploy`: the deployment files checked by the real tools.
#
#   Envoy           envoy --mode validate on the rendered template (offline)
#   docker compose  docker compose config (the client alone, no engine)
#   Kubernetes      kubeconform -strict on `kubectl kustomize deploy/` (schemas come from the
#                   network; the PrometheusRule's from its CRD in deploy/schemas); without network,
#                   deploy/local/manifests.py with kubernetes-validate's bundled schemas instead
#
# `make test` runs the offline equivalents (tests/unit/test_ops_deploy.py); this target adds the
# tools that need a download: `make validate-deploy-tools` installs them.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PYTHON=${PYTHON:-python3}
export PATH="$PATH:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
failed=0

echo "== envoy: render deploy/envoy/envoy.yaml and validate it"
"$PYTHON" "$repo/deploy/local/devstack.py" certs --out "$work/tls" >/dev/null
TLS_CERT_FILE="$work/tls/tls.crt" TLS_KEY_FILE="$work/tls/tls.key" \
  sh "$repo/deploy/envoy/render.sh" "$repo/deploy/envoy/envoy.yaml" "$work/envoy.yaml"
envoy --mode validate -c "$work/envoy.yaml" --log-level error || failed=1

echo "== docker compose config"
if docker compose version >/dev/null 2>&1; then
  "$PYTHON" "$repo/deploy/local/devstack.py" certs --out "$repo/deploy/envoy/certs" >/dev/null
  JWT_SECRET=validate POSTGRES_PASSWORD=validate DATABASE_ENCRYPTION_KEY=validate GRAFANA_ADMIN_PASSWORD=validate \
    docker compose -f "$repo/docker-compose.yml" config --quiet && echo "docker-compose.yml: valid" || failed=1
else
  echo "docker compose is not installed: run make validate-deploy-tools" >&2
  failed=1
fi

echo "== kubernetes: kustomize, then kubeconform"
if command -v kubectl >/dev/null; then
  kubectl kustomize "$repo/deploy" > "$work/k8s.yaml"
else
  echo "kubectl is missing: validating the listed manifests one by one" >&2
  "$PYTHON" - "$repo/deploy" > "$work/k8s.yaml" <<'PY'
import pathlib, sys, yaml
root = pathlib.Path(sys.argv[1])
for resource in yaml.safe_load((root / "kustomization.yaml").read_text())["resources"]:
    print((root / resource).read_text()); print("---")
PY
fi
"$PYTHON" "$repo/deploy/local/manifests.py" schemas "$work/schemas" >/dev/null
if command -v kubeconform >/dev/null \
    && kubeconform -strict -summary -kubernetes-version 1.33.0 -schema-location default \
      -schema-location "$work/schemas/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
      "$work/k8s.yaml" > "$work/kubeconform.log" 2>&1; then
  tail -1 "$work/kubeconform.log"
else
  [ -f "$work/kubeconform.log" ] && tail -1 "$work/kubeconform.log" >&2
  echo "kubeconform could not check the manifests (not installed, or no network for its schemas):" >&2
  echo "checking them against kubernetes-validate's bundled schemas (and the bundled CRDs) instead" >&2
  "$PYTHON" "$repo/deploy/local/manifests.py" validate "$work/k8s.yaml" || failed=1
fi
exit $failed
