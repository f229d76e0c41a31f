import Foundation
import Generated
import HTTPServer
@testable import RuntimeCore
@testable import RuntimeService
import TestSupport
import XCTest

/// The foundation routes over real HTTP: runs, receipts, replays, projectors,
/// workers, readiness and the write freeze (runtime-service-foundation.md).
final class RuntimeRoutesTests: ServiceHarness {
    // MARK: Runs

    func testCreatingARunIs201AndRunningAtSeqOne() throws {
        try serve()
        let r = try post("/internal/v1/runs", #"{"run_id":"r1"}"#)
        XCTAssertEqual(r.status, 201)
        // REST bodies write the spec's word for the status, not the enum value's name.
        XCTAssertTrue(r.text.contains(#""status":"running""#), r.text)
        XCTAssertTrue(r.text.contains(#""latestSeq":1"#), r.text)
        XCTAssertEqual(try get("/internal/v1/runs/r1").status, 200)
    }

    func testUnknownRunsAre404OnEveryRunRoute() throws {
        try serve()
        for path in ["/internal/v1/runs/nope", "/internal/v1/runs/nope/receipt", "/internal/v1/runs/nope/replay",
                     "/internal/v1/projectors/checkpoints/nope", "/internal/v1/projectors/run-summary/nope"] {
            let r = try get(path)
            XCTAssertEqual(r.status, 404, path)
            XCTAssertEqual(errorCode(r), "not_found", path)
        }
        XCTAssertEqual(try post("/internal/v1/runs/nope/events", #"{"event_type":"x"}"#).status, 404)
    }

    func testPaymentEventsAreNotAppendedDirectly() throws {
        try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"r"}"#)
        let r = try post("/internal/v1/runs/r/events", #"{"event_type":"payment","payload":{"rail":"ln","asset_id":"BTC","amount_msats":1,"payment_proof":"p"}}"#)
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(errorCode(r), "invalid_request")
    }

    func testToolAndVerificationEventsNeedTheirRequiredFields() throws {
        try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"r"}"#)
        let tool = try post("/internal/v1/runs/r/events", #"{"event_type":"tool","payload":{"params":{}}}"#)
        XCTAssertEqual(tool.status, 400)
        XCTAssertTrue(tool.text.contains("payload.tool"), tool.text)
        XCTAssertEqual(try post("/internal/v1/runs/r/events", #"{"event_type":"verification","payload":{}}"#).status, 400)
        XCTAssertEqual(try get("/internal/v1/runs/r").text.contains(#""latestSeq":1"#), true, "nothing was appended")
    }

    func testReceiptIsCanonicalJSONWithBareHexHash() throws {
        try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"r","metadata":{"policy_bundle_id":"pb"}}"#)
        _ = try post("/internal/v1/runs/r/events", #"{"event_type":"tool","payload":{"tool":"t","latency_ms":5}}"#)
        _ = try post("/internal/v1/runs/r/events", #"{"event_type":"run.finished","payload":{"status":"succeeded"}}"#)
        let r = try get("/internal/v1/runs/r/receipt")
        XCTAssertEqual(r.status, 200)
        let v = try object(r)
        XCTAssertEqual(CanonicalJSON.bytes(v), r.body, "served bytes are already canonical")
        XCTAssertEqual(JSONValue.stringField(v, "schema"), "openagents.receipt.v1")
        XCTAssertEqual(JSONValue.stringField(v, "policy_bundle_id"), "pb")
        XCTAssertEqual(JSONValue.numberField(v, "event_count"), 3)
        XCTAssertTrue(JSONValue.stringField(v, "trajectory_hash")?.hasPrefix("sha256:") ?? false)
        XCTAssertEqual(JSONValue.stringField(v, "canonical_json_sha256")?.count, 64)
        XCTAssertEqual(try get("/internal/v1/runs/r/receipt").body, r.body, "the same log gives the same bytes")
    }

    func testReplayIsNDJSONAndValid() throws {
        try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"r"}"#)
        _ = try post("/internal/v1/runs/r/events", #"{"event_type":"tool","payload":{"tool":"t"},"idempotency_key":"c1"}"#)
        let r = try get("/internal/v1/runs/r/replay")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.headers["content-type"], "application/x-ndjson")
        XCTAssertEqual(try ReplayValidator.validate(r.body).get(), 6)  // header, start, run.started, call, result, end
    }

    // MARK: Write freeze

    func testEveryWriteRouteIsFrozenUnlessTheWriterIsActive() async throws {
        for mode in ["shadow_only", "read_only"] {
            try serve(writeMode: mode)
            for (path, body) in [("/internal/v1/runs", "{}"), ("/internal/v1/runs/r/events", #"{"event_type":"x"}"#),
                                 ("/internal/v1/workers", #"{"owner_user_id":"u"}"#), ("/internal/v1/workers/w/heartbeat", #"{"owner_user_id":"u"}"#),
                                 ("/internal/v1/workers/w/status", #"{"owner_user_id":"u","status":"stopped"}"#),
                                 ("/internal/v1/runs/r/frames", #"{"thread_id":"t","frame_id":"f","type":"x","payload":{}}"#),
                                 ("/internal/v1/runs/r/cancel", #"{"thread_id":"t"}"#),
                                 ("/internal/v1/comms/delivery-events", #"{"event_id":"e","provider":"p","delivery_state":"d","payload":{}}"#),
                                 ("/internal/v1/tools/execute", "{}")] {
                let r = try post(path, body)
                XCTAssertEqual(r.status, 503, "\(mode) \(path)")
                XCTAssertEqual(errorCode(r), "write_path_frozen", "\(mode) \(path)")
            }
            XCTAssertEqual(try get("/healthz").text.contains(#""authority_writer_active":false"#), true)
            await server?.shutdown(deadline: 2)
        }
    }

    // MARK: Projectors and readiness

    func testRunSummaryAndCheckpointFollowCommittedEvents() throws {
        let core = try serve()
        _ = try post("/internal/v1/runs", #"{"run_id":"r"}"#)
        _ = try post("/internal/v1/runs/r/events", #"{"event_type":"run.cancel_requested"}"#)
        for _ in 0..<200 where (try? core.projector.checkpoint(topic: "run:r:events"))??.lastSeq != 2 { usleep(5_000) }
        let summary = try object(try get("/internal/v1/projectors/run-summary/r"))
        XCTAssertEqual(JSONValue.stringField(JSONValue.field(summary, "summary"), "status"), "canceling")
        XCTAssertEqual(JSONValue.numberField(JSONValue.field(summary, "summary"), "event_count"), 2)
        let checkpoint = try object(try get("/internal/v1/projectors/checkpoints/r"))
        XCTAssertEqual(JSONValue.stringField(JSONValue.field(checkpoint, "checkpoint"), "last_event_type"), "run.cancel_requested")
    }

    func testDriftNeedsATopicAnd404sWithoutDrift() throws {
        try serve()
        XCTAssertEqual(try get("/internal/v1/projectors/drift").status, 400)
        XCTAssertEqual(try get("/internal/v1/projectors/drift?topic=").status, 400)
        XCTAssertEqual(try get("/internal/v1/projectors/drift?topic=run:x:events").status, 404)
    }

    func testReadyzReportsAuthorityAndProjectorReadiness() throws {
        let core = try serve()
        for _ in 0..<200 where !core.projector.isReady { usleep(5_000) }
        let r = try get("/readyz")
        XCTAssertEqual(r.status, 200)
        for field in ["authority_ready", "projector_ready", "workers_ready"] { XCTAssertTrue(r.text.contains(#""\#(field)":true"#), r.text) }
    }

    func testReadyzIsNotReadyWithoutARecoveredLog() async throws {
        let s = HTTPServer(config: { var c = ServerConfig(); c.port = 0; c.loops = 1; return c }(),
                           router: Services.runtimeRouter(config: ServiceConfig(), metrics: Metrics(), core: nil, signature: nil), logger: Logger(level: .error))
        port = try s.start()
        server = s
        let r = try get("/readyz")
        XCTAssertEqual(r.status, 503)
        XCTAssertTrue(r.text.contains(#""status":"not_ready""#), r.text)
    }
}
