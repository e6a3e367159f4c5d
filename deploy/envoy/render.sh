#!/bin/sh
# Renders the Envoy template: each ${NAME} in it becomes the value of the variable NAME.
#
#   render.sh TEMPLATE OUTPUT              (devstack, CI)
#   render.sh TEMPLATE OUTPUT -- envoy ...  (containers: render, then exec the command)
#
# Every variable has a default that suits a container (the service names and ports of
# docker-compose.yml and deploy/k8s); a ${NAME} left in the output is an error.
set -eu
template=$1
output=$2
shift 2

: "${LISTEN_ADDRESS:=0.0.0.0}"
: "${EDGE_PORT:=8443}"
: "${INTERNAL_PORT:=8080}"
: "${ADMIN_PORT:=9901}"
: "${METRICS_PORT:=9902}"
: "${TLS_CERT_FILE:=/etc/envoy/tls/tls.crt}"
: "${TLS_KEY_FILE:=/etc/envoy/tls/tls.key}"
: "${GATEWAY_HOST:=gateway}"
: "${GATEWAY_PORT:=8080}"
: "${REGISTRY_HOST:=registry}"
: "${REGISTRY_PORT:=50051}"
: "${REDIS_SVC_HOST:=redis-svc}"
: "${REDIS_SVC_PORT:=50052}"
: "${MONGO_SVC_HOST:=mongo-svc}"
: "${MONGO_SVC_PORT:=50053}"
: "${PG_SVC_HOST:=pg-svc}"
: "${PG_SVC_PORT:=50054}"
: "${EDGE_RATE_LIMIT_PER_S:=2000}"
: "${EDGE_RATE_LIMIT_BURST:=4000}"

script=""
for name in LISTEN_ADDRESS EDGE_PORT INTERNAL_PORT ADMIN_PORT METRICS_PORT TLS_CERT_FILE TLS_KEY_FILE \
    GATEWAY_HOST GATEWAY_PORT REGISTRY_HOST REGISTRY_PORT REDIS_SVC_HOST REDIS_SVC_PORT MONGO_SVC_HOST \
    MONGO_SVC_PORT PG_SVC_HOST PG_SVC_PORT EDGE_RATE_LIMIT_PER_S EDGE_RATE_LIMIT_BURST; do
  eval "value=\${$name}"
  case $value in *"|"*) echo "render.sh: $name must not contain '|'" >&2; exit 2 ;; esac
  script="$script s|\${$name}|$value|g;"
done
sed -e "$script" "$template" > "$output"
if grep -n '\${[A-Z_][A-Z0-9_]*}' "$output" >&2; then
  echo "render.sh: the lines above name variables render.sh does not know" >&2
  exit 2
fi
if [ "${1:-}" = "--" ]; then
  shift
  exec "$@"
fi
