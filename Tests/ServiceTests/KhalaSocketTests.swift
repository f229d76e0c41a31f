import APIRuntime
import Foundation
import Generated
@testable import RuntimeCore
import TestSupport
import XCTest

/// GET /internal/v1/khala/topics/{topic}/ws: the same admission rules as
/// polling before any upgrade, then hello, the backlog and live messages.
final class KhalaSocketTests: KhalaHarness {
    func testSocketUpgradeRequiresAValidSyncToken() throws {
        try serve()
        let ws = try socket("run:r1:events", headers: [])
        XCTAssertEqual(ws.upgrade.status, 401)
        XCTAssertEqual(try RuntimeV1.ErrorEnvelope(jsonBytes: ws.upgrade.body).error?.reasonCode, "missing_authorization")
    }

    func testSocketOriginPolicyDeniesUntrustedBrowserOrigins() throws {
        try serve()
        let ws = try socket("run:r1:events", headers: bearer(claims()) + [("origin", "https://evil.example")])
        XCTAssertEqual(ws.upgrade.status, 403)
        XCTAssertEqual(try RuntimeV1.ErrorEnvelope(jsonBytes: ws.upgrade.body).error?.code, "forbidden_origin")
    }

    func testSocketUpgradeSucceedsForAnAuthorizedOriginAndSaysHello() throws {
        try serve()
        try run("r1", events: 1)
        let ws = try socket("run:r1:events", "after_seq=0", headers: bearer(claims()) + [("origin", "https://openagents.com")])
        XCTAssertEqual(ws.upgrade.status, 101)
        let hello = try frame(ws.readText())
        XCTAssertEqual(hello.type, "hello")
        XCTAssertEqual(hello.topic, "run:r1:events")
        XCTAssertEqual(hello.afterSeq, 0)
        XCTAssertEqual(hello.limit, 100)
        XCTAssertTrue((400...650).contains(hello.recommendedReconnectBackoffMs ?? 0))
        let first = try frame(ws.readText())
        XCTAssertEqual(first.type, "message")
        let m = try SyncV1.FanoutMessage(jsonBytes: try first.message?.jsonBytes() ?? [])
        XCTAssertEqual(m.sequence, 1)
        XCTAssertEqual(m.kind, "run.started")
    }

    /// Reads message frames until `seq`, returning the sequences in arrival order.
    func sequences(_ ws: WSClient, until seq: UInt64) throws -> [UInt64] {
        var out: [UInt64] = []
        while out.last ?? 0 < seq {
            let f = try frame(ws.readText())
            guard f.type == "message" else { continue }
            out.append(try SyncV1.FanoutMessage(jsonBytes: try f.message?.jsonBytes() ?? []).sequence)
        }
        return out
    }

    func testSocketDeliversEveryMessageOnceInOrderWhileEventsAreAppended() throws {
        try serve()
        try run("r1")
        let ws = try socket("run:r1:events", "after_seq=0", headers: bearer(claims()))
        XCTAssertEqual(try frame(ws.readText()).type, "hello")
        let port = self.port, secret = Self.secret
        let writer = Thread {
            for i in 0..<80 {
                _ = RawClient.post(port: port, path: "/internal/v1/runs/r1/events", json: #"{"event_type":"run.step","payload":{"i":\#(i)}}"#,
                                   headers: [(RuntimeSignature.header, RuntimeSignature.sign(RuntimeSignature.claims(), secret: secret)), ("x-oa-user-id", "u1")])
            }
        }
        writer.start()
        XCTAssertEqual(try sequences(ws, until: 81), Array(1...81))
    }

    func testSocketResumesWithAfterSeqAfterADisconnect() throws {
        try serve()
        try run("r1", events: 4)
        var ws = try socket("run:r1:events", "after_seq=0", headers: bearer(claims()))
        XCTAssertEqual(try sequences(ws, until: 3).last, 3)
        ws.send(8, [0x03, 0xE8])
        _ = ws.raw.readUntilClosed()
        try append("r1", count: 3)
        ws = try socket("run:r1:events", "after_seq=3", headers: bearer(claims()))
        XCTAssertEqual(try sequences(ws, until: 8), [4, 5, 6, 7, 8])
    }

    func testSocketSendsStaleCursorAndCloses() throws {
        try serve(configure: { $0.streamRetentionEvents = 2 })
        try run("r1", events: 4)
        let ws = try socket("run:r1:events", "after_seq=0", headers: bearer(claims()))
        XCTAssertEqual(try frame(ws.readText()).type, "hello")
        let stale = try frame(ws.readText())
        XCTAssertEqual(stale.type, "stale_cursor")
        XCTAssertEqual(stale.reasonCodes, ["retention_floor_breach"])
        XCTAssertEqual(stale.oldestAvailableCursor, 3)
        XCTAssertEqual(stale.headCursor, 5)
        var close: WSClient.Frame?
        while let f = ws.read() { if f.opcode == 8 { close = f; break } }
        XCTAssertEqual(close?.closeCode, 1000)
    }

    func testWorkerLifecycleChangesArePushedToTheWorkersTopic() throws {
        try serve()
        XCTAssertEqual(try post("/internal/v1/workers", #"{"worker_id":"w1","owner_user_id":"u1"}"#).status, 201)
        let ws = try socket("worker:w1:lifecycle", headers: bearer(claims()))
        XCTAssertEqual(try sequences(ws, until: 1), [1])
        let r = try post("/internal/v1/workers/w1/status", #"{"owner_user_id":"u1","status":"stopping"}"#)
        XCTAssertEqual(r.status, 200, r.text)
        let f = try frame(ws.readText())
        let m = try SyncV1.FanoutMessage(jsonBytes: try f.message?.jsonBytes() ?? [])
        XCTAssertEqual(m.sequence, 2)
        XCTAssertEqual(m.kind, "worker.stopping")
    }

    func testFanoutListsFollowedTopicsWithTheirSubscribers() throws {
        try serve()
        try run("r1", events: 2)
        let ws = try socket("run:r1:events", headers: bearer(claims()))
        XCTAssertEqual(try sequences(ws, until: 3), [1, 2, 3])
        var topics: [SyncV1.KhalaTopicWindow] = []
        for _ in 0..<50 {
            topics = try SyncV1.KhalaFanoutResponse(jsonBytes: try get("/internal/v1/khala/fanout").body).topics
            if !topics.isEmpty { break }
            usleep(20_000)
        }
        let t = try XCTUnwrap(topics.first)
        XCTAssertEqual(t.topic, "run:r1:events")
        XCTAssertEqual(t.subscribers, 1)
        XCTAssertEqual(t.headCursor, 3)
        XCTAssertEqual(t.topicClass, "run_events")
    }
}
