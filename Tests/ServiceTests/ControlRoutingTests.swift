import APIRuntime
import ControlService
import Foundation
import Generated
import HTTPServer
@testable import RuntimeCore
import TestSupport
import XCTest

/// runtime-route-ownership.md: the /api/runtime/* table declared once in the
/// contract, and the runtime proxy (reference-system.md 3.2) against a real
/// runtime that enforces signatures.
final class ControlRoutingTests: ControlHarness {
    /// The seed table of runtime-route-ownership.md.
    static let seed: [(String, String, String)] = [
        ("POST", "/api/runtime/tools/execute", "control_service"),
        ("GET", "/api/runtime/skills/tool-specs", "control_service"),
        ("POST", "/api/runtime/skills/tool-specs", "control_service"),
        ("GET", "/api/runtime/skills/skill-specs", "control_service"),
        ("POST", "/api/runtime/skills/skill-specs", "control_service"),
        ("POST", "/api/runtime/skills/skill-specs/:skill_id/:version/publish", "control_service"),
        ("GET", "/api/runtime/skills/releases/:skill_id/:version", "control_service"),
        ("GET", "/api/runtime/threads", "control_service"),
        ("GET", "/api/runtime/threads/:thread_id/messages", "control_service"),
        ("POST", "/api/runtime/threads/:thread_id/messages", "control_service"),
        ("GET", "/api/runtime/codex/workers", "control_service"),
        ("POST", "/api/runtime/codex/workers", "control_service"),
        ("GET", "/api/runtime/codex/workers/:worker_id", "control_service"),
        ("GET", "/api/runtime/codex/workers/:worker_id/stream", "control_service"),
        ("POST", "/api/runtime/codex/workers/:worker_id/events", "control_service"),
        ("POST", "/api/runtime/codex/workers/:worker_id/stop", "control_service"),
        ("POST", "/api/runtime/codex/workers/:worker_id/requests", "control_service"),
        ("GET", "/api/runtime/workers", "runtime_service"),
        ("POST", "/api/runtime/workers", "runtime_service"),
        ("GET", "/api/runtime/workers/:worker_id", "runtime_service"),
        ("POST", "/api/runtime/workers/:worker_id/heartbeat", "runtime_service"),
        ("POST", "/api/runtime/workers/:worker_id/status", "runtime_service"),
    ]

    func testRuntimeOwnershipContractIsUnambiguous() {
        let keys = ControlHandler.ownership.map { "\($0.method) \($0.path)" }
        XCTAssertEqual(keys.count, Set(keys).count, "a method/path pair appears twice")
        XCTAssertTrue(ControlHandler.ownership.allSatisfy { ["control_service", "runtime_service"].contains($0.owner) && !$0.rationale.isEmpty })
    }

    func testRuntimeOwnershipContractCoversExactlyTheSeedTable() {
        let declared = Set(ControlHandler.ownership.map { "\($0.method) \($0.path) \($0.owner)" })
        XCTAssertEqual(declared, Set(Self.seed.map { "\($0.0) \($0.1) \($0.2)" }))
        // Every /api/runtime route the router serves declares an owner, and nothing else does.
        let runtimeRoutes = ControlV1.ControlService.routes.filter { $0.template.source.hasPrefix("/api/runtime/") }
        XCTAssertEqual(runtimeRoutes.count, 22)
        XCTAssertTrue(runtimeRoutes.allSatisfy { $0.authority != nil })
        XCTAssertTrue(ControlV1.ControlService.routes.filter { !$0.template.source.hasPrefix("/api/runtime/") }.allSatisfy { $0.authority == nil })
    }

    func testRuntimeServiceRoutesAreRuntimeProxyDelivery() {
        for row in ControlHandler.ownership {
            XCTAssertEqual(row.delivery, row.owner == "runtime_service" ? "runtime_proxy" : "in_process", "\(row.method) \(row.path)")
            XCTAssertEqual(row.migrationStatus, row.owner == "runtime_service" ? "runtime_authority_proxy" : "control_native")
        }
    }

    func testControlStatusExposesRuntimeRouteOwnershipMap() throws {
        try serve()
        let r = try get("/api/v1/control/status")
        XCTAssertEqual(r.status, 200, r.text)
        let status = try XCTUnwrap(try decode(ControlV1.ControlStatusResponse.self, r).data)
        XCTAssertEqual(status.service, "openagents-control")
        XCTAssertEqual(status.activeOrgId, "org1")
        XCTAssertEqual(status.runtimeRouteOwnership, ControlHandler.ownership)
        XCTAssertEqual(status.runtimeRouteOwnership.count, 22)
        XCTAssertEqual(status.runtimeRouting?.defaultDriver, "runtime_service")
        XCTAssertTrue(r.text.contains("\"migration_status\":\"runtime_authority_proxy\""), "row fields by the table's names")
    }

    func testTheOpenAPIDocumentCarriesEachRoutesAuthority() throws {
        let doc = try JSONSerialization.jsonObject(with: Data(ControlV1.ControlService.openAPIDocument.utf8)) as? [String: Any]
        let paths = try XCTUnwrap(doc?["paths"] as? [String: Any])
        let op = try XCTUnwrap((paths["/api/runtime/workers/{worker_id}/heartbeat"] as? [String: Any])?["post"] as? [String: Any])
        XCTAssertEqual((op["x-openagents-authority"] as? [String: Any])?["owner"] as? String, "runtime_service")
    }

    func testAWorkerCreatedThroughControlIsVisibleThroughTheRuntimesInternalAPI() throws {
        try serve()
        let created = try post("/api/runtime/workers", #"{"workerId":"w-proxy","workspaceRef":"ws1"}"#, as: "user-7")
        XCTAssertEqual(created.status, 200, created.text)
        XCTAssertEqual(try decode(ControlV1.RuntimeWorkerResult.self, created).data?.worker?.workerId, "w-proxy")
        // Straight at the runtime, signed: the worker is there, owned by the session's user.
        let claims = RuntimeSignature.claims()
        let direct = try XCTUnwrap(RawClient.get(port: runtimePort, path: "/internal/v1/workers/w-proxy?owner_user_id=user-7",
                                                 headers: [(RuntimeSignature.header, RuntimeSignature.sign(claims, secret: Self.runtimeSecret))]))
        XCTAssertEqual(direct.status, 200, direct.text)
        let view = try XCTUnwrap(try RuntimeV1.WorkerResponse(jsonBytes: direct.body, options: .init(ignoreUnknownFields: true, acceptEnumWireWords: true)).worker)
        XCTAssertEqual(view.worker?.ownerUserRef, "user-7")
        XCTAssertEqual(view.worker?.workspaceRef, "ws1")
        // And the other proxied routes see it.
        XCTAssertEqual(try decode(ControlV1.RuntimeWorkerListResult.self, try get("/api/runtime/workers", as: "user-7")).data.map { $0.worker?.workerId }, ["w-proxy"])
        XCTAssertEqual(try post("/api/runtime/workers/w-proxy/heartbeat", #"{"metadataPatch":{"a":1}}"#, as: "user-7").status, 200)
        let stopped = try post("/api/runtime/workers/w-proxy/status", #"{"status":"stopped","reason":"done"}"#, as: "user-7")
        XCTAssertEqual(stopped.status, 200, stopped.text)
        XCTAssertEqual(try decode(ControlV1.RuntimeWorkerResult.self, try get("/api/runtime/workers/w-proxy", as: "user-7")).data?.worker?.status, .stopped)
    }

    func testTheProxySignsEveryCall() throws {
        // The runtime refuses unsigned calls; a control with the wrong secret gets 401 passed through.
        try startRuntime()
        let env = ["OA_CONTROL_SESSION_SECRET": Self.sessionKey]
        let svc = try ControlService(dataDirectory: dir + "/other", runtimeURL: "http://127.0.0.1:\(runtimePort)", runtimeSecret: Array("wrong".utf8),
                                     environment: env, metrics: Metrics(), logger: Logger(level: .error))
        try serve(svc)
        let r = try get("/api/runtime/workers")
        XCTAssertEqual(r.status, 401, r.text)
        XCTAssertEqual(try envelope(r).error?.code, "unauthorized")
    }

    /// A stand-in runtime that records what reached it and answers `status`, after `delay` seconds.
    func recordingRuntime(status: Int = 200, delay: UInt32 = 0) throws -> (port: Int, seen: Seen) {
        let seen = Seen()
        var r = Router()
        r.getSync("/internal/v1/workers") { req in
            seen.withLock { $0.append(req.headers.fields.map { ($0.name.lowercased(), $0.value) }) }
            if delay > 0 { usleep(delay * 1_000_000) }
            return HTTPResponse.json(status, Array(status == 200 ? #"{"workers":[]}"#.utf8 : #"{"error":{"code":"boom","message":"runtime failed"}}"#.utf8))
        }
        var sc = ServerConfig()
        sc.port = 0
        sc.loops = 1
        let s = HTTPServer(config: sc, router: r, logger: Logger(level: .error))
        let port = try s.start()
        runtime = s
        return (port, seen)
    }

    final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var requests: [[(String, String)]] = []
        func withLock<T>(_ body: (inout [[(String, String)]]) -> T) -> T { lock.lock(); defer { lock.unlock() }; return body(&requests) }
        var last: [String: String] { withLock { Dictionary(($0.last ?? []), uniquingKeysWith: { a, _ in a }) } }
    }

    func testTheProxyPropagatesRequestIDAndTraceAndSignsForTheSessionUser() throws {
        let (rport, seen) = try recordingRuntime()
        try serve(runtime: false, runtimeURL: "http://127.0.0.1:\(rport)")
        let trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        let r = try call("GET", "/api/runtime/workers", token: session("user-42"), headers: [("x-request-id", "req-abc-123"), ("traceparent", trace)])
        XCTAssertEqual(r.status, 200, r.text)
        let h = seen.last
        XCTAssertEqual(h["x-request-id"], "req-abc-123")
        XCTAssertEqual(h["traceparent"]?.split(separator: "-")[1], "0af7651916cd43dd8448eb211c80319c", "the same trace")
        let claims = try RuntimeSignature(secret: Self.runtimeSecret).verify(h["x-oa-runtime-signature"], bindings: .init(userID: "user-42"))
        XCTAssertEqual(claims.userId, "user-42")
    }

    func testARuntime5xxIs503NamingTheAction() throws {
        let (rport, _) = try recordingRuntime(status: 500)
        try serve(runtime: false, runtimeURL: "http://127.0.0.1:\(rport)")
        let r = try get("/api/runtime/workers")
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue(try envelope(r).message.hasPrefix("Failed to list runtime workers:"), r.text)
    }

    func testARuntimeThatDoesNotAnswerInTimeIs503() throws {
        let (rport, _) = try recordingRuntime(delay: 2)
        let env = ["OA_CONTROL_SESSION_SECRET": Self.sessionKey]
        let svc = try ControlService(dataDirectory: dir + "/slow", runtimeURL: "http://127.0.0.1:\(rport)", runtimeSecret: Self.runtimeSecret,
                                     environment: env, metrics: Metrics(), logger: Logger(level: .error), runtimeTimeout: 0.3)
        try serve(svc)
        let started = Date()
        let r = try get("/api/runtime/workers")
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue(try envelope(r).message.contains("timed out"), r.text)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.5)
    }

    func testRuntimeRoutesAre503WhileCodexRoutesStayControlOwnedWithNoRuntime() throws {
        try serve(runtime: false)
        let r = try get("/api/runtime/workers")
        XCTAssertEqual(r.status, 503)
        let e = try envelope(r)
        XCTAssertEqual(e.error?.code, "service_unavailable")
        XCTAssertEqual(e.message, "Runtime is not configured.")
        XCTAssertEqual(try post("/api/runtime/codex/workers", "{}").status, 202)
    }

    func testRuntimeRoutesAre503NamingTheActionWhenTheRuntimeIsDown() throws {
        try serve(runtime: false, runtimeURL: "http://127.0.0.1:1")
        let r = try post("/api/runtime/workers", #"{"workerId":"w"}"#)
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue(try envelope(r).message.hasPrefix("Failed to create runtime worker:"), r.text)
    }

    func testARuntime4xxIsPassedThroughWithItsCode() throws {
        try serve()
        let r = try get("/api/runtime/workers/nobody")
        XCTAssertEqual(r.status, 404, r.text)
        XCTAssertEqual(try envelope(r).error?.code, "not_found")
        _ = try post("/api/runtime/workers", #"{"workerId":"w-owned"}"#, as: "owner")
        XCTAssertEqual(try get("/api/runtime/workers/w-owned", as: "intruder").status, 403)
    }

    func testAnInvalidWorkerStatusIs422BeforeTheRuntimeIsAsked() throws {
        try serve(runtime: false, runtimeURL: "http://127.0.0.1:1")
        let r = try post("/api/runtime/workers/w/status", #"{"status":"sleeping"}"#)
        XCTAssertEqual(r.status, 422)
        let e = try envelope(r)
        XCTAssertEqual(e.error?.code, "invalid_request")
        XCTAssertNotNil(e.errors?.fields["status"])
    }

    func testToolsExecuteTakesTheUserFromTheSession() throws {
        try serve()
        let body = #"{"tool_pack":"coding.v1","user_id":"someone-else","request":{"integration_id":"github.primary","operation":"get_issue","repository":"o/r","issue_number":1}}"#
        let r = try post("/api/runtime/tools/execute", body, as: "u1")
        XCTAssertEqual(r.status, 403, r.text)
        XCTAssertEqual(try envelope(r).error?.code, "forbidden")
    }
}

/// The control contract checked by independent tools, as the runtime's is.
final class ControlContractTests: ControlHarness {
    static let document = Repo.path("Sources/Generated/OpenAPI/openagents.control.v1.ControlService.openapi.json")

    func tool(_ name: String) throws -> String {
        let path = GeneratedAPITests.venv + name
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("\(path) is missing: `make test` installs the test tools") }
        return path
    }

    func testTheServedControlDocumentIsTheCommittedOne() throws {
        try serve(runtime: false)
        let r = try call("GET", "/openapi.json")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, [UInt8](try XCTUnwrap(FileManager.default.contents(atPath: Self.document))))
    }

    func testTheControlDocumentValidates() throws {
        let result = try GeneratedAPITests.run(try tool("openapi-spec-validator"), [Self.document])
        XCTAssertEqual(result.status, 0, result.output)
    }

    func testSchemathesisFindsNoServerErrorAndNoResponseOutsideTheControlDocument() throws {
        let schemathesis = try tool("schemathesis")
        try serve()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let result = try GeneratedAPITests.run(schemathesis, [
            "run", "http://127.0.0.1:\(controlPort)/openapi.json",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples", "25", "--seed", "7", "--request-timeout", "5",
            "-H", "Authorization: Bearer \(session("fuzz-user", ttl: 86400))",
        ], cwd: dir)
        XCTAssertEqual(result.status, 0, result.output)
    }
}
