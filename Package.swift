// swift-tools-version:6.0
// No outside packages: toolchain modules only (see DEVELOPERS.md).
import PackageDescription


let package = Package(
    name: "openagents",
    products: [
        // Generated contract types plus their codecs: what consumers depend on.
        .library(name: "OpenAgentsContracts", targets: ["Generated", "ProtoWire", "APIRuntime"]),
        .executable(name: "contracts", targets: ["contracts"]),
        .executable(name: "openagents", targets: ["OpenAgents"]),
        .plugin(name: "GenerateContracts", targets: ["GenerateContracts"]),
    ],
    targets: [
        // Wire runtime: varints, reader/writer, unknown fields, the message protocol.
        .target(name: "ProtoWire"),
        // What generated service code stands on: route descriptors, path templates,
        // handler and client seams. Knows routes, not sockets.
        .target(name: "APIRuntime", dependencies: ["ProtoWire"]),
        // Generated code only (make generate). Never edited by hand. OpenAPI/ and OpenRPC/ hold
        // the committed documents (also embedded in the Swift, which serves them).
        .target(name: "Generated", dependencies: ["ProtoWire", "APIRuntime"], exclude: ["OpenAPI", "OpenRPC"]),
        // Descriptor model, Swift emitter, the generator's verbs.
        .target(name: "Codegen", dependencies: ["ProtoWire", "APIRuntime"]),
        .executableTarget(name: "contracts", dependencies: ["Codegen", "ProtoWire"], path: "Sources/ContractsCLI"),
        // System headers Swift cannot import directly (epoll, eventfd).
        .target(name: "CSystem"),
        // HTTP/1.1 server core on epoll: parser, router, SSE, operations.
        .target(name: "HTTPServer", dependencies: ["CSystem"]),
        // Generated route tables on the server core: binding rules, negotiation, the
        // error envelope (the one place errors become HTTP), Connect unary, middleware.
        .target(name: "ServiceKit", dependencies: ["HTTPServer", "APIRuntime", "Generated", "ProtoWire"]),
        // The runtime domain without HTTP: runs, state machine, workers, projector,
        // receipts and replay, the event log and ledger, tools, request signing.
        // Throws APIError; knows no status code and no socket.
        // SHA-256, HMAC-SHA-256, PBKDF2: tested against the FIPS and RFC vectors.
        .target(name: "Digests"),
        // Our PostgreSQL client: protocol 3.0, SCRAM-SHA-256, extended queries, pipelines, LISTEN, a pool.
        .target(name: "PostgresClient", dependencies: ["Digests", "ProtoWire"]),
        .target(name: "RuntimeCore", dependencies: ["APIRuntime", "Generated", "ProtoWire", "CSystem", "Digests", "PostgresClient"]),
        // The runtime service: the generated RuntimeServiceHandler implemented on the core.
        .target(name: "RuntimeService", dependencies: ["RuntimeCore", "ServiceKit", "HTTPServer", "APIRuntime", "Generated", "ProtoWire"]),
        // The control service: sessions, sync tokens, the /api/runtime/* ownership
        // table (from the contract), the signed runtime proxy and the control-owned
        // lanes, on a durable record log (RuntimeCore's RecordLog).
        .target(name: "ControlService", dependencies: ["RuntimeCore", "ServiceKit", "HTTPServer", "APIRuntime", "Generated", "ProtoWire", "PostgresClient"]),
        // The product's executable: `openagents serve`.
        .executableTarget(name: "OpenAgents", dependencies: ["RuntimeService", "ControlService", "RuntimeCore", "ServiceKit", "HTTPServer", "Generated", "PostgresClient"]),
        .plugin(
            name: "GenerateContracts",
            capability: .command(
                intent: .custom(verb: "generate-contracts", description: "Regenerate Sources/Generated from proto/"),
                permissions: [.writeToPackageDirectory(reason: "Writes generated Swift into Sources/Generated")]),
            dependencies: ["contracts"]),
        // The fixed benchmark contract (../shared/bench/bench.proto), generated here, not into the product.
        .target(name: "BenchContracts", dependencies: ["Generated", "ProtoWire"], path: "Benchmarks/BenchContracts"),
        .executableTarget(name: "CodecBench", dependencies: ["BenchContracts", "Generated", "ProtoWire"], path: "Benchmarks/CodecBench"),
        // SSE fan-out and held streams against the real service (make bench-stream).
        .executableTarget(name: "StreamBench", dependencies: ["RuntimeCore", "CSystem"], path: "Benchmarks/StreamBench"),
        // JSON-RPC round trips over the control service's WebSocket (make bench-rpc).
        .executableTarget(name: "RPCBench", path: "Benchmarks/RPCBench"),
        // Our PostgreSQL client against pgbench's prepared INSERT (make bench-postgres).
        .executableTarget(name: "PGBench", dependencies: ["PostgresClient"], path: "Benchmarks/PGBench"),
        // Test-only contracts exercising generator corner cases (recursion, keywords, maps, ...).
        .target(name: "TestContracts", dependencies: ["Generated", "ProtoWire", "APIRuntime"], path: "Tests/Fixtures/Generated", exclude: ["OpenAPI"]),
        .testTarget(name: "ProtoWireTests", dependencies: ["ProtoWire"]),
        .testTarget(name: "PostgresClientTests", dependencies: ["PostgresClient", "Digests", "TestSupport"]),
        .testTarget(name: "CodegenTests", dependencies: ["Codegen", "APIRuntime", "Generated", "TestContracts", "BenchContracts", "ProtoWire"]),
        .testTarget(name: "GeneratedTests", dependencies: ["Generated", "TestContracts", "BenchContracts", "ProtoWire", "TestSupport"]),
        // Test helpers shared by the socket-level tests.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "ServiceKit", "RuntimeService", "RuntimeCore", "Generated", "ProtoWire", "TestSupport"]),
        .testTarget(name: "ServiceTests", dependencies: ["RuntimeService", "ControlService", "RuntimeCore", "ServiceKit", "APIRuntime", "HTTPServer", "Generated", "ProtoWire", "TestSupport", "TestContracts"]),
    ]
)
