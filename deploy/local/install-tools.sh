#!/usr/bin/env bash
# Installs the servers and tools the tests and `make dev` start, when they are missing.
# Idempotent: a machine that has them all does nothing.
set -euo pipefail

GOBIN="${GOBIN:-$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin}"
apt_packages=()
command -v redis-server >/dev/null || apt_packages+=(redis-server)
command -v webdis >/dev/null || apt_packages+=(webdis)
if [ -x /usr/lib/postgresql/15/bin/initdb ] || command -v initdb >/dev/null; then :; else apt_packages+=(postgresql-15); fi

if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "install-tools: apt-get install ${apt_packages[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
  # The Debian package starts a system-wide redis on 6379; the tests start their own.
  if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
    $SUDO systemctl stop redis-server || true
  fi
fi

go_install() {  # name, module@version
  if ! command -v "$1" >/dev/null && [ ! -x "$GOBIN/$1" ]; then
    echo "install-tools: go install $2"
    GOFLAGS=-mod=mod go install "$2"
  fi
}

# FerretDB 1.24.2. A plain `go install ...@v1.24.2` builds a binary that panics at start
# ("Invalid build/version/version.txt file content"): the file is written by FerretDB's own
# release tooling. So build the same module source with that one file written, as its docs say.
ferretdb_ok() { "$1" --version 2>/dev/null | grep -q '^version: v1.24'; }
FERRETDB="$(command -v ferretdb || echo "$GOBIN/ferretdb")"
if ! ferretdb_ok "$FERRETDB"; then
  echo "install-tools: building FerretDB v1.24.2"
  GOFLAGS=-mod=mod go mod download github.com/FerretDB/FerretDB@v1.24.2
  src="$(go env GOMODCACHE)/github.com/!ferret!d!b/!ferret!d!b@v1.24.2"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  cp -r "$src"/. "$work"/
  chmod -R u+w "$work"
  echo v1.24.2 > "$work/build/version/version.txt"
  (cd "$work" && go build -o "$GOBIN/ferretdb" ./cmd/ferretdb)
  ferretdb_ok "$GOBIN/ferretdb"
fi
go_install grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3

# promtool for `promtool test rules` on deploy/monitoring/: Prometheus 3.16.0, whose Go module
# version is v0.316.0 (the release of docker-compose.yml's Prometheus image). Built without the
# optional service discoveries but DNS (the `remove_all_sd` and `enable_dns_sd` tags of
# Prometheus's README): the compose config finds each replica by DNS, and the others are never
# used; that halves the build (about 3 minutes instead of 5.5 on two cores, from an empty Go
# cache) and the binary. A promtool that cannot read a DNS discovery is built again.
PROMTOOL_VERSION=3.16.0 PROMTOOL_MODULE=github.com/prometheus/prometheus/cmd/promtool@v0.316.0
PROMTOOL_DNS_PROBE="$(mktemp)"
printf 'scrape_configs: [{job_name: probe, dns_sd_configs: [{names: [probe], type: A, port: 1}]}]\n' >"$PROMTOOL_DNS_PROBE"
promtool_ok() {
  "$1" --version 2>/dev/null | grep -q "^promtool, version $PROMTOOL_VERSION " &&
    "$1" check config --syntax-only "$PROMTOOL_DNS_PROBE" >/dev/null 2>&1
}
PROMTOOL="$(command -v promtool || echo "$GOBIN/promtool")"
if ! promtool_ok "$PROMTOOL"; then
  echo "install-tools: go install promtool $PROMTOOL_VERSION"
  GOFLAGS=-mod=mod go install -tags remove_all_sd,enable_dns_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROMTOOL_VERSION" \
    "$PROMTOOL_MODULE"
  promtool_ok "$GOBIN/promtool"
fi
rm -f "$PROMTOOL_DNS_PROBE"

# Toxiproxy 2.5.0 for the fault tests (tests/faults.py puts it between the services and their
# databases). Its module names the server's package cmd/server, so `go install` would call the
# binary `server`: built under its released name instead.
if ! command -v toxiproxy-server >/dev/null && [ ! -x "$GOBIN/toxiproxy-server" ]; then
  echo "install-tools: building toxiproxy-server v2.5.0"
  GOFLAGS=-mod=mod go mod download github.com/Shopify/toxiproxy/v2@v2.5.0
  (cd "$(go env GOMODCACHE)/github.com/!shopify/toxiproxy/v2@v2.5.0" && \
    GOFLAGS=-mod=mod go build -ldflags "-s -w" -o "$GOBIN/toxiproxy-server" ./cmd/server)
fi
