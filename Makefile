# Unified Database API: every routine task has a target here.
SHELL := /bin/bash
PYTHON ?= python3
PROTO_FILES := $(shell find protos -name '*.proto' | sort)
GENERATED_DIRS := udb/common/v1 udb/registry/v1 udb/redis/v1 udb/mongo/v1 udb/pg/v1 udb/mux/v1

.PHONY: install tools proto proto-check lint format typecheck test test-unit test-integration test-debug bench dev dev-reset check \
	certs validate-deploy validate-deploy-tools monitoring

## install: the Python package with its dev tools, and the servers the tests start (idempotent)
install: tools
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'

## tools: Redis, FerretDB, grpcurl, webdis, promtool and toxiproxy-server, installed when missing
tools:
	deploy/local/install-tools.sh

## proto: regenerate the Python stubs from protos/
proto:
	rm -rf $(GENERATED_DIRS)
	$(PYTHON) -m grpc_tools.protoc -I protos --python_out=. --grpc_python_out=. --pyi_out=. \
		--plugin=protoc-gen-mypy_grpc="$$(command -v protoc-gen-mypy_grpc)" --mypy_grpc_out=. $(PROTO_FILES)
	for d in $(GENERATED_DIRS); do touch $$d/__init__.py $$(dirname $$d)/__init__.py; done

## proto-check: fail when the committed stubs differ from what protos/ generates
proto-check: proto
	git diff --exit-code -- $(GENERATED_DIRS)
	test -z "$$(git status --porcelain -- $(GENERATED_DIRS))"

## lint: ruff (check and format), and the walls of the design as import contracts ([tool.importlinter])
lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -c "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())" --no-cache

format:
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

typecheck:
	$(PYTHON) -m mypy udb services/gateway/gateway services/registry/registry services/redis-svc/redis_svc \
		services/mongo-svc/mongo_svc services/pg-svc/pg_svc deploy/local

## test: everything CI checks: stubs up to date, lint, types, unit and integration tests on real servers
test: install proto-check lint typecheck
	$(PYTHON) -m pytest -p no:cacheprovider tests

test-unit: install
	$(PYTHON) -m pytest -p no:cacheprovider tests/unit

## test-debug: the suite once more under asyncio debug mode (never-awaited coroutines, slow callbacks)
test-debug: install
	PYTHONASYNCIODEBUG=1 $(PYTHON) -m pytest -p no:cacheprovider tests

## bench: the benchmarks, printing figures and ratios against the raw drivers
bench: install
	$(PYTHON) bench/run.py

## dev: the whole stack on loopback (two Postgres clusters, Redis, FerretDB, five services, Envoy
## with TLS) with a demo dataset, in .dev (kept across runs); writes .dev/env for a shell to source
dev: install
	$(PYTHON) deploy/local/devstack.py up

## dev-reset: forget the data of `make dev` (deletes .dev; refused while it runs)
dev-reset:
	$(PYTHON) deploy/local/devstack.py reset

## certs: a self-signed TLS pair for Envoy in deploy/envoy/certs (docker compose mounts it)
certs:
	$(PYTHON) deploy/local/devstack.py certs --out deploy/envoy/certs

## monitoring: deploy/k8s/prometheus-rule.yaml from deploy/monitoring/alerts.yml (after editing the rules)
monitoring:
	$(PYTHON) deploy/local/monitoring.py

## validate-deploy: Envoy's config, docker-compose.yml and deploy/k8s checked by envoy, docker
## compose and kubeconform. Not part of `test`: compose and kubeconform are downloads (see README);
## `test` runs the offline checks of the same files.
validate-deploy:
	PYTHON=$(PYTHON) deploy/validate.sh

## validate-deploy-tools: kubeconform, and the docker compose plugin built from its Go module
validate-deploy-tools:
	go install github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
	GOFLAGS=-mod=mod go mod download github.com/docker/compose/v2@v2.40.3
	cd "$$(go env GOMODCACHE)/github.com/docker/compose/v2@v2.40.3" && \
		go build -trimpath -o "$$HOME/.docker/cli-plugins/docker-compose" ./cmd
