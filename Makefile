# orchestrator: every target works on a fresh clone after `make dev`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
BUF := node_modules/.bin/buf
NODE := node --import tsx
TEST_FILES = $(shell find src machines tests -name '*.test.ts' 2>/dev/null | sort)
BASELINE := proto/baseline.binpb

.PHONY: help dev run build start test test-unit typecheck generate check-generated buf-lint buf-breaking \
        buf-baseline clean-generated generate-clients bench dev-monitoring

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | sort

dev: ## install dependencies (npm ci) and generate code
	npm ci --no-audit --no-fund
	$(MAKE) generate

run: ## start the server on $$PORT (8002); embedded PGlite and in-process bus unless DATABASE_URL / REDIS_URL are set
	$(NODE) --max-semi-space-size=64 src/main.ts

build: ## compile to dist/ with tsc (what `make start` runs; no tsx at run time)
	rm -rf dist
	npx tsc -p tsconfig.build.json
	cp package.json dist/

start: build ## like `make run`, from the compiled JavaScript in dist/ (less CPU per call than tsx: bench/JOURNAL.md, Sessions 1-2)
	node --max-semi-space-size=64 dist/src/main.js

test: typecheck buf-lint buf-breaking check-generated test-unit ## everything CI checks

# A hung test (or suite, or file) fails after 10 minutes instead of holding CI until its own limit;
# the slowest suite takes ~40 s on a 2-vCPU machine.
test-unit: ## the test suite alone (node's test runner)
	$(NODE) --test --test-concurrency=1 --test-timeout=600000 $(TEST_FILES)

typecheck: ## tsc, strict, no emit
	npx tsc --noEmit -p tsconfig.json

generate: ## TypeScript from proto/ into gen/ (buf + local protoc-gen-es)
	$(BUF) generate

check-generated: ## fail when `buf generate` would change gen/
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(BUF) generate -o $$tmp && \
	{ diff -r -x go -x python gen $$tmp/gen > /dev/null || { echo "gen/ is stale: run 'make generate' and commit it"; diff -r -x go -x python gen $$tmp/gen | head -20; exit 1; }; }
	@echo "gen/ is up to date"

buf-lint: ## lint proto/
	$(BUF) lint

buf-breaking: ## compare proto/ against the committed baseline image
	$(BUF) breaking proto --against $(BASELINE)

buf-baseline: ## accept the current contracts as the new baseline (on release)
	$(BUF) build proto -o $(BASELINE)

clean-generated: ## remove generated code (make generate restores it)
	rm -rf gen/* gen/go gen/python

generate-clients: generate ## also Go into gen/go and Python into gen/python (Debian: protoc-gen-go protoc-gen-go-grpc protobuf-compiler protobuf-compiler-grpc)
	@for tool in protoc-gen-go protoc-gen-go-grpc protoc grpc_python_plugin; do \
	  command -v $$tool > /dev/null || { echo "missing $$tool: apt-get install protoc-gen-go protoc-gen-go-grpc protobuf-compiler protobuf-compiler-grpc"; exit 1; }; done
	$(BUF) generate --template buf.gen.clients.yaml
	@echo "Go client in gen/go, Python client in gen/python"

bench: ## benchmarks (print numbers; not part of make test); pass options as BENCH_ARGS="--only engine --runs 3"
	$(NODE) bench/run.ts $(BENCH_ARGS)

dev-monitoring: ## local Prometheus on 127.0.0.1:9090 scraping `make run` (PORT, 8002) with observability/alerts.yaml; no Grafana here (see README "Observability")
	@echo "Grafana is not installable on this machine (no Debian package): import observability/dashboards/orchestrator.json"
	@echo "into a Grafana that can reach this Prometheus (README, section Observability). Prometheus UI: http://$${PROMETHEUS_LISTEN:-127.0.0.1:9090}"
	observability/local/run-prometheus.sh
