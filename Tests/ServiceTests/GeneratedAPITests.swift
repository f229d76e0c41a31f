import APIRuntime
import Foundation
import Generated
import HTTPServer
import ProtoWire
@testable import RuntimeCore
@testable import RuntimeService
import ServiceKit
import TestSupport
import XCTest

/// The generated service layer against a real runtime server: the typed
/// client reaches every unary rpc, Connect unary serves the same handlers,
/// the OpenAPI document is the committed one, validates and lists every route,
/// and independent tools (openapi-spec-validator, schemathesis, buf curl) agree.
final class GeneratedAPITests: ServiceHarness {
    var client: RuntimeV1.RuntimeServiceClient { RuntimeV1.RuntimeServiceClient(APIClient(transport: HTTPClientTransport(HTTPClient(host: "127.0.0.1", port: port)))) }
    var binaryClient: RuntimeV1.RuntimeServiceClient {
        RuntimeV1.RuntimeServiceClient(APIClient(transport: HTTPClientTransport(HTTPClient(host: "127.0.0.1", port: port)), encoding: .protobuf))
    }
    func signed(_ extra: [(String, String)] = []) -> [(String, String)] { [(RuntimeSignature.header, token())] + extra }
    let owner: [(String, String)] = [("x-oa-user-id", "u1")]

    static let venv = Repo.path(".venv-test/bin/")
    func tool(_ name: String) throws -> String {
        let path = Self.venv + name
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("\(path) is missing: `make test` installs the test tools (scripts/test-tools.sh)")
        }
        return path
    }

    func testTheTypedClientReachesEveryUnaryRpc() async throws {
        try serve()
        var reached: Set<String> = []
        let c = client
        reached.insert("Healthz")
        let v1 = try await c.healthz().message.service
        XCTAssertEqual(v1, "openagents-runtime")
        reached.insert("Readyz"); _ = try? await c.readyz()  // 200 or 503 while the projector catches up: both answers are typed
        reached.insert("Metrics")
        let metrics = try await c.metrics().message
        XCTAssertEqual(metrics.contentType, "text/plain; version=0.0.4")
        XCTAssertTrue(String(decoding: metrics.data, as: UTF8.self).contains("http_requests_total"))
        reached.insert("Health")
        let v2 = try await c.health(headers: signed()).message.status
        XCTAssertEqual(v2, "ok")

        var create = RuntimeV1.CreateRunRequest()
        create.runId = "r1"
        create.threadId = "t1"
        reached.insert("CreateRun")
        let created = try await c.createRun(create, headers: signed(owner))
        XCTAssertEqual(created.status, 201)
        XCTAssertEqual(created.message.run?.status, .running)
        XCTAssertEqual(created.message.run?.ownerUserRef, "u1")

        var get = RuntimeV1.GetRunRequest()
        get.runId = "r1"
        reached.insert("GetRun")
        let v3 = try await c.getRun(get, headers: signed()).message.run?.latestSeq
        XCTAssertEqual(v3, 1)

        var append = RuntimeV1.AppendRunEventRequest()
        append.runId = "r1"
        append.eventType = "run.delta"
        append.payload = try GoogleProtobuf.Value(jsonString: #"{"text":"hi"}"#)
        append.expectedPreviousSeq = 1
        reached.insert("AppendRunEvent")
        let appended = try await c.appendRunEvent(append, headers: signed())
        XCTAssertEqual(appended.message.event?.seq, 2)

        var receipt = RuntimeV1.GetRunReceiptRequest()
        receipt.runId = "r1"
        reached.insert("GetRunReceipt")
        let r = try await c.getRunReceipt(receipt, headers: signed())
        XCTAssertEqual(r.message.schema, "openagents.receipt.v1")
        XCTAssertEqual(r.message.lastSeq, 2)

        var replay = RuntimeV1.GetRunReplayRequest()
        replay.runId = "r1"
        reached.insert("GetRunReplay")
        let rp = try await c.getRunReplay(replay, headers: signed())
        XCTAssertEqual(rp.message.contentType, "application/x-ndjson")
        if case .failure(let problem) = ReplayValidator.validate(rp.message.data) { XCTFail("replay invalid: \(problem)") }

        var frame = RuntimeV1.AppendFrameRequest()
        frame.runId = "r1"
        frame.threadId = "t1"
        frame.frameId = "f1"
        frame.type = "user_message"
        frame.payload = try GoogleProtobuf.Value(jsonString: #"{"text":"go"}"#)
        reached.insert("AppendFrame")
        let v4 = try await c.appendFrame(frame, headers: signed()).status
        XCTAssertEqual(v4, 202)
        let v5 = try await c.appendFrame(frame, headers: signed()).status
        XCTAssertEqual(v5, 200, "the replay of a frame is 200")

        var snapshot = RuntimeV1.GetRunSnapshotRequest()
        snapshot.runId = "r1"
        snapshot.threadId = "t1"
        reached.insert("GetRunSnapshot")
        let v6 = try await c.getRunSnapshot(snapshot, headers: signed(owner)).message.status
        XCTAssertEqual(v6, "running")

        var eventPage = RuntimeV1.ListRunEventsRequest()
        eventPage.runId = "r1"
        eventPage.threadId = "t1"
        eventPage.limit = 1
        reached.insert("ListRunEvents")
        let v6b = try await c.listRunEvents(eventPage, headers: signed(owner)).message
        XCTAssertEqual(v6b.events.map(\.seq), [1])
        XCTAssertTrue(v6b.hasMore)
        XCTAssertEqual(v6b.nextAfterSeq, 1)

        var comms = RuntimeV1.CommsDeliveryEventRequest()
        comms.eventId = "e1"
        comms.provider = "resend"
        comms.deliveryState = "delivered"
        comms.payload = try GoogleProtobuf.Struct(jsonString: "{}")
        reached.insert("IngestCommsDeliveryEvent")
        let v7 = try await c.ingestCommsDeliveryEvent(comms, headers: signed()).status
        XCTAssertEqual(v7, 202)

        let tool = try RuntimeV1.ToolExecuteRequest(jsonString: #"""
        {"tool_pack":"coding.v1","run_id":"r1","thread_id":"t1",
         "manifest":{"manifest_version":"coding.integration.v1","integration_id":"github.primary","provider":"github","status":"active","tool_pack":"coding.v1",
                     "capabilities":["get_issue"],"policy":{"write_operations_mode":"enforce","default_repository":"OpenAgentsInc/openagents"}},
         "request":{"integration_id":"github.primary","operation":"get_issue","repository":"OpenAgentsInc/openagents","issue_number":7,"run_id":"r1","tool_call_id":"c1"}}
        """#)
        reached.insert("ExecuteTool")
        let v8 = try await c.executeTool(tool, headers: signed(owner)).message.data?.decision
        XCTAssertEqual(v8, "allowed")

        var register = RuntimeV1.RegisterWorkerRequest()
        register.workerId = "w1"
        register.ownerUserId = "u1"
        reached.insert("RegisterWorker")
        let w = try await c.registerWorker(register, headers: signed())
        XCTAssertEqual(w.status, 201)
        XCTAssertEqual(w.message.worker?.worker?.status, .running)

        var list = RuntimeV1.ListWorkersRequest()
        list.ownerUserId = "u1"
        reached.insert("ListWorkers")
        let v9 = try await c.listWorkers(list, headers: signed()).message.workers.map { $0.worker?.workerId }
        XCTAssertEqual(v9, ["w1"])

        var getWorker = RuntimeV1.GetWorkerRequest()
        getWorker.workerId = "w1"
        getWorker.ownerUserId = "u1"
        reached.insert("GetWorker")
        let v10 = try await c.getWorker(getWorker, headers: signed()).message.worker?.worker?.workerId
        XCTAssertEqual(v10, "w1")

        var beat = RuntimeV1.WorkerHeartbeatRequest()
        beat.workerId = "w1"
        beat.ownerUserId = "u1"
        reached.insert("HeartbeatWorker")
        let v11 = try await c.heartbeatWorker(beat, headers: signed()).message.worker?.liveness?.heartbeatState
        XCTAssertEqual(v11, "fresh")

        var status = RuntimeV1.WorkerStatusRequest()
        status.workerId = "w1"
        status.ownerUserId = "u1"
        status.status = "stopping"
        reached.insert("SetWorkerStatus")
        let v12 = try await c.setWorkerStatus(status, headers: signed()).message.worker?.worker?.status
        XCTAssertEqual(v12, .stopping)

        // Projections follow the log asynchronously: wait until they caught up.
        var runCheckpoint = RuntimeV1.GetRunCheckpointRequest()
        runCheckpoint.runId = "r1"
        var workerCheckpoint = RuntimeV1.GetWorkerCheckpointRequest()
        workerCheckpoint.workerId = "w1"
        var summary = RuntimeV1.GetRunSummaryRequest()
        summary.runId = "r1"
        reached.formUnion(["GetRunCheckpoint", "GetWorkerCheckpoint", "GetRunSummary"])
        var caughtUp = false
        for _ in 0..<100 {
            if let cp = try? await c.getRunCheckpoint(runCheckpoint, headers: signed()), cp.message.checkpoint?.lastSeq ?? 0 >= 3,
               (try? await c.getWorkerCheckpoint(workerCheckpoint, headers: signed())) != nil,
               let s = try? await c.getRunSummary(summary, headers: signed()), s.message.summary?.projectionHash.hasPrefix("sha256:") == true {
                caughtUp = true
                break
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        XCTAssertTrue(caughtUp, "projections did not catch up")

        var drift = RuntimeV1.GetDriftRequest()
        drift.topic = "run:r1:events"
        reached.insert("GetDrift")
        do {
            _ = try await c.getDrift(drift, headers: signed())
            XCTFail("no drift was recorded")
        } catch let e as APIClientError {
            XCTAssertEqual(e.status, 404)
            XCTAssertEqual(e.code, "not_found")
        }

        var cancel = RuntimeV1.CancelRunRequest()
        cancel.runId = "r1"
        cancel.threadId = "t1"
        reached.insert("CancelRun")
        let canceled = try await c.cancelRun(cancel, headers: signed())
        XCTAssertEqual(canceled.status, 202)
        XCTAssertEqual(canceled.message.status, "canceling")

        let now = Int64(Date().timeIntervalSince1970)
        let claims: [String: Any] = ["iss": "https://openagents.com", "aud": "openagents-sync", "iat": now, "exp": now + 60, "jti": "typed",
                                     "oa_user_id": "u1", "oa_sync_scopes": ["runtime.run_events"]]
        let sync = JWT.sign(claims: [UInt8](try JSONSerialization.data(withJSONObject: claims)), key: try SyncAuthorizer.loadKey(environment: [:], dataDirectory: dir))
        var poll = SyncV1.KhalaPollRequest()
        poll.topic = "run:r1:events"
        poll.afterSeq = "1"
        reached.insert("PollKhalaTopic")
        let page = try await c.pollKhalaTopic(poll, headers: [("authorization", "Bearer " + sync)]).message
        XCTAssertEqual(page.messages.first?.sequence, 2)
        var publish = SyncV1.KhalaPublishRequest()
        publish.topic = "runtime.codex_worker_events"
        publish.kind = "worker.note"
        publish.idempotencyKey = "typed-1"
        reached.insert("PublishKhalaMessage")
        let published = try await c.publishKhalaMessage(publish, headers: signed())
        XCTAssertEqual(published.status, 202)
        XCTAssertEqual(published.message.message?.sequence, 1)
        var revocation = SyncV1.SyncRevocation()
        revocation.key = "sid:typed-session"
        revocation.revokedAtUnix = now
        var revoke = SyncV1.SyncRevocationRequest()
        revoke.revocations = [revocation]
        reached.insert("RecordSyncRevocations")
        let recorded = try await c.recordSyncRevocations(revoke, headers: signed()).message.recorded
        XCTAssertEqual(recorded, 1)
        reached.insert("GetKhalaFanout")
        let fanout = try await c.getKhalaFanout(headers: signed()).message
        XCTAssertEqual(fanout.driver, "embedded")

        let unary = Set(RuntimeV1.RuntimeService.routes.filter { $0.streaming == .unary }.map(\.rpc))
        XCTAssertEqual(reached, unary, "every unary rpc of the route table is called above")
    }

    func testTheTypedClientSpeaksProtobufToo() async throws {
        try serve()
        var create = RuntimeV1.CreateRunRequest()
        create.runId = "bin"
        let created = try await binaryClient.createRun(create, headers: signed())
        XCTAssertEqual(created.status, 201)
        XCTAssertEqual(created.message.run?.runId, "bin")
        let v13 = try await binaryClient.healthz().message.status
        XCTAssertEqual(v13, "ok")
    }

    func testTheTypedClientThrowsTheEnvelopesCodeAndMessage() async throws {
        try serve()
        var get = RuntimeV1.GetRunRequest()
        get.runId = "missing"
        do {
            _ = try await client.getRun(get, headers: signed())
            XCTFail("expected 404")
        } catch let e as APIClientError {
            XCTAssertEqual(e.status, 404)
            XCTAssertEqual(e.code, "not_found")
            XCTAssertEqual(e.message, "run missing not found")
        }
        do {
            _ = try await client.getRun(get)
            XCTFail("expected 401")
        } catch let e as APIClientError {
            XCTAssertEqual(e.status, 401)
        }
    }

    // MARK: Connect unary

    func connect(_ rpc: String, _ body: [UInt8], contentType: String = "application/json", headers: [(String, String)] = []) throws -> RawClient.Response {
        let c = try RawClient(port: port)
        var all = headers
        if !all.contains(where: { $0.0 == RuntimeSignature.header }) { all.append((RuntimeSignature.header, token())) }
        let extra = all.map { "\($0.0): \($0.1)\r\n" }.joined()
        c.send(Array("POST /openagents.runtime.v1.RuntimeService/\(rpc) HTTP/1.1\r\nHost: t\r\nConnect-Protocol-Version: 1\r\n\(extra)Content-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        return try XCTUnwrap(c.readResponse())
    }

    struct ConnectError: Decodable { var code: String; var message: String; var details: [Detail]?; struct Detail: Decodable { var type: String; var value: String } }

    func testConnectUnaryServesCanonicalJSON() throws {
        try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"c1"}"#)
        let r = try connect("GetRun", Array(#"{"runId":"c1"}"#.utf8))
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(r.headers["content-type"], "application/json")
        // Canonical proto3 JSON: enum names and 64-bit integers as strings.
        XCTAssertTrue(r.text.contains(#""status":"RUNTIME_RUN_STATUS_RUNNING""#), r.text)
        XCTAssertTrue(r.text.contains(#""latestSeq":"1""#), r.text)
        XCTAssertEqual(try RuntimeV1.RunResponse(jsonBytes: r.body).run?.runId, "c1")
    }

    func testConnectUnaryServesBinaryProtobuf() throws {
        try serve()
        var create = RuntimeV1.CreateRunRequest()
        create.runId = "c2"
        let r = try connect("CreateRun", create.serializedBytes(), contentType: "application/proto")
        XCTAssertEqual(r.status, 200, "Connect answers 200 where REST declares 201")
        XCTAssertEqual(r.headers["content-type"], "application/proto")
        XCTAssertEqual(try RuntimeV1.RunResponse(serializedBytes: r.body).run?.runId, "c2")
        XCTAssertEqual(try get("/internal/v1/runs/c2").status, 200, "the REST route sees the run Connect created")
    }

    func testConnectGetServesNoSideEffectRpcs() throws {
        try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"c3"}"#)
        let message = PercentEncoding.encode(#"{"runId":"c3"}"#)
        let r = try get("/openagents.runtime.v1.RuntimeService/GetRun?encoding=json&message=\(message)&connect=v1")
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(try RuntimeV1.RunResponse(jsonBytes: r.body).run?.runId, "c3")
        var req = RuntimeV1.GetRunRequest()
        req.runId = "c3"
        let b64 = Base64.encode(req.serializedBytes()).replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let bin = try get("/openagents.runtime.v1.RuntimeService/GetRun?encoding=proto&base64=1&message=\(b64)&connect=v1")
        XCTAssertEqual(bin.status, 200, bin.text)
        XCTAssertEqual(try RuntimeV1.RunResponse(serializedBytes: bin.body).run?.runId, "c3")
        XCTAssertEqual(try get("/openagents.runtime.v1.RuntimeService/CreateRun?encoding=json&message=%7B%7D").status, 405, "an rpc with side effects has no GET")
    }

    func testConnectErrorsUseConnectCodesAndStatuses() throws {
        try serve()
        func error(_ r: RawClient.Response) throws -> ConnectError { try JSONDecoder().decode(ConnectError.self, from: Data(r.body)) }
        let missing = try connect("GetRun", Array(#"{"runId":"nope"}"#.utf8))
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(try error(missing).code, "not_found")
        // Our envelope rides along as a typed detail.
        let detail = try XCTUnwrap(try error(missing).details?.first)
        XCTAssertEqual(detail.type, "openagents.runtime.v1.ErrorBody")
        var padded = detail.value
        while padded.count % 4 != 0 { padded += "=" }
        XCTAssertEqual(try RuntimeV1.ErrorBody(serializedBytes: try XCTUnwrap(Base64.decode(padded))).code, "not_found")

        let bad = try connect("GetRun", Array(#"{"runId":"#.utf8))
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual(try error(bad).code, "invalid_argument")

        let unsigned = try connect("GetRun", Array(#"{"runId":"x"}"#.utf8), headers: [(RuntimeSignature.header, "")])
        XCTAssertEqual(unsigned.status, 401)
        XCTAssertEqual(try error(unsigned).code, "unauthenticated")

        _ = try post("/internal/v1/runs", #"{"run_id":"c4"}"#)
        let conflict = try connect("AppendRunEvent", Array(#"{"runId":"c4","eventType":"run.delta","payload":{},"expectedPreviousSeq":"9"}"#.utf8))
        XCTAssertEqual(conflict.status, 409)
        XCTAssertEqual(try error(conflict).code, "aborted")

        XCTAssertEqual(try connect("GetRun", [], contentType: "text/plain").status, 415)
        let timeout = try connect("GetRun", Array("{}".utf8), headers: [("connect-timeout-ms", "12345678901")])
        XCTAssertEqual(timeout.status, 400)
    }

    func testConnectRoutesKeepTheRoutesPolicies() throws {
        try serve(writeMode: "read_only")
        let frozen = try connect("CreateRun", Array("{}".utf8))
        XCTAssertEqual(frozen.status, 503)
        XCTAssertEqual(try JSONDecoder().decode(ConnectError.self, from: Data(frozen.body)).code, "unavailable")
        // A token bound to another run is refused on Connect too, where run_id is only in the body.
        var claims = RuntimeSignature.claims()
        claims.runId = "other"
        let r = try connect("GetRun", Array(#"{"runId":"x"}"#.utf8), headers: [(RuntimeSignature.header, token(claims))])
        XCTAssertEqual(r.status, 403)
    }

    // MARK: OpenAPI

    func committedDocument() throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: Repo.path("Sources/Generated/OpenAPI/openagents.runtime.v1.RuntimeService.openapi.json"))))
    }

    func testTheServedOpenAPIDocumentIsTheCommittedOne() throws {
        try serve()
        let r = try call("GET", "/openapi.json", headers: [(RuntimeSignature.header, "")])
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.body, try committedDocument())
    }

    func testTheOpenAPIDocumentListsEveryRoute() throws {
        let doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try committedDocument())) as? [String: Any])
        let paths = try XCTUnwrap(doc["paths"] as? [String: [String: Any]])
        var listed: Set<String> = []
        for (path, ops) in paths { for method in ops.keys { listed.insert(method.uppercased() + " " + path) } }
        let routes = Set(RuntimeV1.RuntimeService.routes.filter { !$0.method.isEmpty }.map { "\($0.method) \($0.template.source)" })
        XCTAssertEqual(listed, routes)
        let op = try XCTUnwrap(paths["/internal/v1/runs/{run_id}/frames"]?["post"] as? [String: Any])
        let responses = try XCTUnwrap(op["responses"] as? [String: Any])
        for code in ["202", "200", "400", "401", "403", "404", "409", "503"] { XCTAssertNotNil(responses[code], "frames declares \(code)") }
    }

    func testTheOpenAPIDocumentValidates() throws {
        let validator = try tool("openapi-spec-validator")
        let result = try Self.run(validator, [Repo.path("Sources/Generated/OpenAPI/openagents.runtime.v1.RuntimeService.openapi.json")])
        XCTAssertEqual(result.status, 0, result.output)
    }

    func testSchemathesisFindsNoServerErrorAndNoResponseOutsideTheDocument() throws {
        let schemathesis = try tool("schemathesis")
        // Signatures are single-use: with them on, every generated call would stop at 401,
        // so this server runs as RUNTIME_INTERNAL_AUTH=disabled does.
        let server2 = HTTPServer(config: { var c = ServerConfig(); c.port = 0; c.loops = 1; return c }(),
                                 router: Services.runtimeRouter(config: { var c = ServiceConfig(); c.dataDirectory = dir + "/open"; return c }(), metrics: Metrics(),
                                                                core: try RuntimeCore(config: { var c = ServiceConfig(); c.dataDirectory = dir + "/open"; return c }()), signature: nil),
                                 logger: Logger(level: .error), errors: ServiceError.rendering)
        let openPort = try server2.start()
        defer { Task { await server2.shutdown(deadline: 1) } }
        let result = try Self.run(schemathesis, [
            "run", "http://127.0.0.1:\(openPort)/openapi.json",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples", "25", "--seed", "7", "--request-timeout", "5",
            // The stream holds its response open by design; StreamTests cover it.
            "--exclude-path", "/internal/v1/runs/{run_id}/stream",
        ], cwd: dir)
        XCTAssertEqual(result.status, 0, result.output)
    }

    func testBufCurlCallsConnectRoutesWithAProtocBuiltSchema() throws {
        let buf = try tool("buf")
        let set = dir + "/set.binpb"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let files = try FileManager.default.subpathsOfDirectory(atPath: Repo.path("proto")).filter { $0.hasSuffix(".proto") }
        let protoc = try Self.run("/usr/bin/env", ["protoc", "-I", Repo.path("proto"), "-I", "/usr/include", "--include_imports", "--descriptor_set_out=" + set] + files)
        XCTAssertEqual(protoc.status, 0, protoc.output)
        try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"b1"}"#)
        let base = "http://127.0.0.1:\(port)/openagents.runtime.v1.RuntimeService/"
        let health = try Self.run(buf, ["curl", "--schema", set, "--protocol", "connect", base + "Healthz"], cwd: dir)
        XCTAssertEqual(health.status, 0, health.output)
        XCTAssertTrue(health.output.contains("openagents-runtime"), health.output)
        let run = try Self.run(buf, ["curl", "--schema", set, "-H", "\(RuntimeSignature.header): \(token())", "-d", #"{"runId":"b1"}"#, base + "GetRun"], cwd: dir)
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("RUNTIME_RUN_STATUS_RUNNING"), run.output)
    }

    static func run(_ program: String, _ args: [String], cwd: String? = nil) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
