# runledger — build, run and test the otelcol-runledger distribution.
# Needs only Go, make and git: the pinned collector builder (ocb) is installed
# into .tools/ on first use.

GO              ?= go
BUILDER_VERSION := v0.165.0
TOOLS_DIR       := $(CURDIR)/.tools
BUILDER         := $(TOOLS_DIR)/builder-$(BUILDER_VERSION)
BUILD_DIR       := $(CURDIR)/_build
DIST            := $(BUILD_DIR)/otelcol-runledger
CLI             := $(BUILD_DIR)/runledger
DEMO            := $(BUILD_DIR)/demo-worker
LOAD            := $(BUILD_DIR)/runledger-load
CONFIG          ?= config.yaml

# sources_of lists this module's Go files that the packages $(1) are built
# from, so a binary is rebuilt when one of them changes and only then (a
# change to bench/harness does not rebuild the collector).
sources_of = $(filter $(CURDIR)/%,$(shell $(GO) list -deps -f '{{if not .Standard}}{{$$d := .Dir}}{{range .GoFiles}}{{$$d}}/{{.}} {{end}}{{end}}' $(1)))
COMPONENTS := ./processor/steproute ./exporter/jsonlledger ./extension/reportapi ./connector/runmetrics ./connector/steplogs

# Packages with concurrency run under the race detector; the end-to-end suite
# drives the built binaries and runs without it.
E2E_ENV   = RUNLEDGER_COLLECTOR=$(DIST) RUNLEDGER_CLI=$(CLI) RUNLEDGER_DEMO=$(DEMO) RUNLEDGER_LOAD=$(LOAD)
UNIT_PKGS = $$($(GO) list ./... | grep -v /tests/e2e)

.PHONY: all build run test test-unit test-e2e test-long bench bench-e2e fmt vet clean help cluster test-cluster

all: build

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BUILDER):
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(BUILDER_VERSION)
	mv $(TOOLS_DIR)/builder $(BUILDER)

$(DIST): $(BUILDER) builder-config.yaml go.mod go.sum $(call sources_of,$(COMPONENTS))
	$(BUILDER) --config builder-config.yaml
	@touch $(DIST)

$(CLI): go.mod go.sum $(call sources_of,./cmd/runledger)
	$(GO) build -o $(CLI) ./cmd/runledger

$(DEMO): go.mod go.sum $(call sources_of,./pipeline/cmd/demo-worker)
	$(GO) build -o $(DEMO) ./pipeline/cmd/demo-worker

$(LOAD): go.mod go.sum $(call sources_of,./pipeline/cmd/runledger-load)
	$(GO) build -o $(LOAD) ./pipeline/cmd/runledger-load

build: $(DIST) $(CLI) $(DEMO) $(LOAD) ## build the collector, the runledger CLI, the demo worker and the load generator into _build/

run: build ## build if needed and start the collector with config.yaml
	$(DIST) --config $(CONFIG)

test: build ## every test: unit (race detector) and end-to-end through the built binaries, the Kafka cluster tests included
	$(GO) vet ./...
	$(GO) test -race -count=1 $(UNIT_PKGS)
	$(E2E_ENV) RUNLEDGER_CLUSTER_TESTS=1 $(GO) test -count=1 -timeout 20m -v ./tests/e2e/... ./cmd/runledger-cluster/

test-unit: ## unit tests only (race detector)
	$(GO) test -race -count=1 $(UNIT_PKGS)

test-e2e: build ## end-to-end tests only, through the built binaries
	$(E2E_ENV) $(GO) test -count=1 -v ./tests/e2e/...

test-long: build ## the long crash and load variants
	$(E2E_ENV) RUNLEDGER_LONG=1 $(GO) test -count=1 -timeout 30m -v ./tests/e2e/...

# Scale-out (docs/scale-out.md): a development Kafka broker (kfake, in the
# runledger-cluster process), agents and gateways of the built collector.
CLUSTER_ARGS ?=

cluster: build ## local scale-out demo: kfake broker, 2 agents, 3 gateways on free ports (Ctrl-C stops all)
	$(GO) run ./cmd/runledger-cluster --collector $(DIST) $(CLUSTER_ARGS)

test-cluster: build ## the multi-process Kafka tests (tests/e2e/cluster_test.go) through the built binaries
	$(E2E_ENV) RUNLEDGER_CLUSTER_TESTS=1 $(GO) test -count=1 -timeout 15m -v -run 'TestCluster|TestDemoCluster' ./tests/e2e/ ./cmd/runledger-cluster/

bench: ## Go benchmarks of the hot paths (one core, allocations reported)
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./processor/... ./exporter/... ./connector/... ./internal/... ./extension/...

# End-to-end benchmark: ours against a peer distribution (otlp -> batch ->
# contrib file exporter) built with its own pinned builder; the peer is rebuilt
# only when its builder config changes. BENCH_ARGS is passed to the harness,
# e.g. make bench-e2e BENCH_ARGS='--duration 20s --only peer'.
PEER_BUILDER := $(TOOLS_DIR)/builder-v0.161.0
PEER_DIST    := $(CURDIR)/bench/peer/_build/otelcol-peer
BENCH_ARGS   ?=

# Serialised after $(BUILDER): both install through $(TOOLS_DIR)/builder.
$(PEER_BUILDER): | $(BUILDER)
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR) $(GO) install go.opentelemetry.io/collector/cmd/builder@v0.161.0
	mv $(TOOLS_DIR)/builder $(PEER_BUILDER)

$(PEER_DIST): $(PEER_BUILDER) bench/peer/builder-config.yaml
	cd bench/peer && $(PEER_BUILDER) --config builder-config.yaml
	@touch $(PEER_DIST)

bench-e2e: build $(PEER_DIST) ## end-to-end benchmark, ours vs the contrib file exporter (docs/benchmarks.md)
	$(GO) run ./bench/harness --ours $(DIST) --peer $(PEER_DIST) $(BENCH_ARGS)

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

vet: ## go vet
	$(GO) vet ./...

clean: ## remove build outputs (not ledgers)
	rm -rf $(BUILD_DIR)
