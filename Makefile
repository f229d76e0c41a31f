# The two commands a new user needs are `make run` and `make test` (README).
SHELL := /bin/bash
CONTRACTS := .build/debug/contracts
BENCH_SECONDS ?= 1.5

.PHONY: test generate bench bench-http bench-generate bench-append bench-stream bench-khala bench-control bench-rpc bench-postgres tools contracts-tool run lint breaking baseline

tools:
	@scripts/ensure-tools.sh

# The service on embedded defaults: runtime on 127.0.0.1:4100, control on 127.0.0.1:8080, state in ./.runtime-data.
run: tools
	swift run openagents serve

# Everything CI runs: the whole test suite (freshness, protoc oracle, codec rules, ...).
test: tools
	scripts/test.sh

contracts-tool: tools
	@swift build --product contracts >/dev/null

# Rewrites every generated file from its .proto sources.
generate: contracts-tool
	$(CONTRACTS) generate --proto-root proto --out Sources/Generated --well-known --registry GeneratedTypes
	$(CONTRACTS) generate --proto-root ../shared/bench --file bench.proto --out Benchmarks/BenchContracts --import Generated
	$(CONTRACTS) generate --proto-root Tests/Fixtures/proto --include proto --out Tests/Fixtures/Generated --import Generated

# Codec benchmark on ../shared/bench, ours and then the swift-protobuf anchor in the same run.
bench: tools
	swift build -c release --product CodecBench >/dev/null
	@echo "# ours: openagents generated codecs"
	BENCH_SECONDS=$(BENCH_SECONDS) .build/release/CodecBench ../shared/bench/data
	@if [ "$${BENCH_ANCHOR:-1}" = 1 ]; then echo "# anchor: swift-protobuf 1.39.0 (../shared/bench)"; \
	  BENCH_SECONDS=$(BENCH_SECONDS) SKIP_HTTP=1 ../shared/bench/run_anchor.sh; fi

# buf-compatible gates over proto/ (buf.yaml): STANDARD lint, FILE breaking against the committed baseline.
lint: contracts-tool
	$(CONTRACTS) lint

breaking: contracts-tool
	$(CONTRACTS) breaking --against proto/baseline/contracts.binpb

# Refreshes proto/baseline/contracts.binpb; refused while any v1 package has breaking changes.
baseline: contracts-tool
	$(CONTRACTS) baseline

# HTTP benchmark: the product (`openagents serve`, release) under the anchor's wrk
# workloads, 10,000 idle keep-alive connections, then the Hummingbird anchor in the same run.
bench-http:
	@scripts/ensure-tools.sh wrk curl
	swift build -c release --product openagents >/dev/null
	scripts/bench-http.sh
	@if [ "$${BENCH_ANCHOR:-1}" = 1 ]; then echo "# anchor: Hummingbird 2.28.1 (../shared/bench)"; SKIP_CODEC=1 ../shared/bench/run_anchor.sh; fi

# Generation time of every contract (make generate's first line) and the debug
# build time of the Generated module from a clean scratch directory.
bench-generate: contracts-tool
	@start=$$(date +%s.%N); $(CONTRACTS) generate --proto-root proto --out Sources/Generated --well-known --registry GeneratedTypes >/dev/null; \
	  end=$$(date +%s.%N); echo "generate all contracts: $$(awk -v a=$$start -v b=$$end 'BEGIN {printf "%.2f", b - a}') s"
	@rm -rf .build-gen-bench; start=$$(date +%s.%N); swift build --scratch-path .build-gen-bench --target Generated >/dev/null; \
	  end=$$(date +%s.%N); echo "debug build of Generated (clean, with ProtoWire and APIRuntime): $$(awk -v a=$$start -v b=$$end 'BEGIN {printf "%.1f", b - a}') s"; rm -rf .build-gen-bench

# Durable appends: group commit vs one fdatasync per append, and start-up over 1,000,000 events.
bench-append:
	@scripts/ensure-tools.sh wrk curl
	swift build -c release --product openagents >/dev/null
	scripts/bench-append.sh
	@if [ "$${BENCH_ANCHOR:-1}" = 1 ]; then echo "# anchor: Hummingbird 2.28.1 in-memory (../shared/bench), same run: compare its append c64 line"; \
	  SKIP_CODEC=1 ../shared/bench/run_anchor.sh; fi

# SSE fan-out: 1,000 stream clients on 100 runs under appends, then 10,000 held streams (server RSS).
bench-stream: tools
	swift build -c release --product openagents >/dev/null
	swift build -c release --product StreamBench >/dev/null
	scripts/bench-stream.sh

# Khala: 1,000 WebSocket subscribers on 100 run topics under appends beside 1,000
# pollers at their 250 ms guard, then 10,000 idle WebSocket subscribers (server RSS).
bench-khala: tools
	swift build -c release --product openagents >/dev/null
	swift build -c release --product StreamBench >/dev/null
	LANE=ws POLLERS=1000 RATES=1000 scripts/bench-stream.sh

# PostgreSQL (#16): (a) our client against pgbench, the same prepared single-row INSERT at
# 8 connections; (b) durable appends through serve on the embedded log, one and two
# instances on PostgreSQL; (c) cross-instance append-to-SSE latency; one cluster, one run.
bench-postgres: tools
	@scripts/ensure-tools.sh wrk curl
	swift build -c release --product PGBench >/dev/null
	swift build -c release --product openagents >/dev/null
	scripts/bench-postgres.sh

# The capability registry's JSON-RPC: initialize and session/send over HTTP and the WebSocket
# beside control's /healthz and the runtime's durable frame append, in one run (release `openagents serve`).
bench-rpc:
	@scripts/ensure-tools.sh wrk curl
	swift build -c release --product openagents >/dev/null
	swift build -c release --product RPCBench >/dev/null
	scripts/bench-rpc.sh

# Control: the runtime's own worker read, the same read through control's signed proxy,
# and a durable control write (codex worker event), in one run (release `openagents serve`).
bench-control:
	@scripts/ensure-tools.sh wrk curl
	swift build -c release --product openagents >/dev/null
	scripts/bench-control.sh
