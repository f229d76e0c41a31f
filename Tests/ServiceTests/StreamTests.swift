import Foundation
import Generated
import HTTPServer
@testable import RuntimeCore
@testable import RuntimeService
import TestSupport
import XCTest

/// GET /internal/v1/runs/:run_id/stream on real SSE connections: each cursor
/// and tail_ms rule of runtime-internal-contract.md.
final class StreamTests: ServiceHarness {
    func start(events: Int = 3) throws {
        XCTAssertEqual(try post("/internal/v1/runs", #"{"run_id":"r","thread_id":"t"}"#).status, 201)
        for i in 0..<events { XCTAssertEqual(try post("/internal/v1/runs/r/events", #"{"event_type":"text.delta","payload":{"i":\#(i)}}"#).status, 200) }
    }
    func append(_ type: String = "text.delta", _ payload: String = "{}") throws {
        XCTAssertEqual(try post("/internal/v1/runs/r/events", #"{"event_type":"\#(type)","payload":\#(payload)}"#).status, 200)
    }

    // MARK: Cursor rules

    func testACursorResumesAfterItsSeqWithIdEqualToSeq() throws {
        try serve()
        try start(events: 3)  // seqs 1...4
        let (c, head) = try openStream("/internal/v1/runs/r/stream?thread_id=t&cursor=2&tail_ms=2000")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["content-type"], "text/event-stream")
        let text = try XCTUnwrap(c.readStream(until: "id: 4\n"))
        XCTAssertEqual(ids(text), [3, 4])
        XCTAssertTrue(text.contains("event: message\nid: 3\ndata: {"), text)
        XCTAssertTrue(text.contains(#""seq":3"#))
    }

    func testLastEventIDResumesLikeACursor() throws {
        try serve()
        try start(events: 3)
        let (c, _) = try openStream("/internal/v1/runs/r/stream?thread_id=t&tail_ms=2000", headers: [("last-event-id", "3")])
        XCTAssertEqual(ids(try XCTUnwrap(c.readStream(until: "id: 4\n"))), [4])
    }

    func testLastEventIDAndACursorThatDifferAre400() throws {
        try serve()
        try start()
        let r = try get("/internal/v1/runs/r/stream?thread_id=t&cursor=1", headers: [("last-event-id", "2")])
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(errorCode(r), "invalid_request")
        let (c, same) = try openStream("/internal/v1/runs/r/stream?thread_id=t&cursor=3&tail_ms=2000", headers: [("last-event-id", "3")])
        XCTAssertEqual(same.status, 200, "the same value twice is fine")
        XCTAssertEqual(ids(try XCTUnwrap(c.readStream(until: "id: 4\n"))), [4])
    }

    func testNoCursorStartsAtTheLatestDurableSeqAndTails() throws {
        try serve()
        try start(events: 3)
        let (c, _) = try openStream("/internal/v1/runs/r/stream?thread_id=t&tail_ms=5000")
        usleep(100_000)
        try append()
        let text = try XCTUnwrap(c.readStream(until: "id: 5\n"))
        XCTAssertEqual(ids(text), [5], "nothing from before the stream opened")
    }

    func testACursorBelowTheRetentionFloorIs410WithRestartCursors() throws {
        try serve { $0.streamRetentionEvents = 2 }
        try start(events: 4)  // seqs 1...5, floor 3
        let r = try get("/internal/v1/runs/r/stream?thread_id=t&cursor=2")
        XCTAssertEqual(r.status, 410)
        XCTAssertEqual(errorCode(r), "stale_cursor")
        XCTAssertEqual(r.headers["cache-control"], "no-store")
        let e = JSONValue.field(try object(r), "error")
        XCTAssertEqual(JSONValue.numberField(e, "oldest_available_cursor"), 3)
        XCTAssertEqual(JSONValue.numberField(e, "head_cursor"), 5)
        let (c, ok) = try openStream("/internal/v1/runs/r/stream?thread_id=t&cursor=3&tail_ms=2000")
        XCTAssertEqual(ok.status, 200, "the floor itself is resumable")
        XCTAssertEqual(ids(try XCTUnwrap(c.readStream(until: "id: 5\n"))), [4, 5])
    }

    func testACursorThatIsNotASeqIs400() throws {
        try serve()
        try start()
        for cursor in ["abc", "-1", "1.5", "99"] {
            XCTAssertEqual(try get("/internal/v1/runs/r/stream?thread_id=t&cursor=\(cursor)").status, 400, cursor)
        }
    }

    func testAStreamNeedsItsThreadAndOwner() throws {
        try serve()
        try start()
        XCTAssertEqual(try get("/internal/v1/runs/r/stream").status, 400)
        XCTAssertEqual(try get("/internal/v1/runs/r/stream?thread_id=other").status, 403)
        XCTAssertEqual(try get("/internal/v1/runs/nope/stream?thread_id=t").status, 404)
    }

    // MARK: tail_ms

    func testTailMsMustBeAPositiveInteger() throws {
        try serve()
        try start()
        for tail in ["0", "-5", "abc", "1.5", ""] {
            let r = try get("/internal/v1/runs/r/stream?thread_id=t&tail_ms=\(tail)")
            XCTAssertEqual(r.status, 400, "tail_ms=\(tail)")
        }
    }

    func testTailMsBoundsHowLongTheTailStaysOpen() throws {
        try serve()
        try start()
        let (c, _) = try openStream("/internal/v1/runs/r/stream?thread_id=t&tail_ms=300")
        let began = Date()
        XCTAssertNotNil(c.readStream(until: "\r\n0\r\n\r\n"), "the response ends by itself (last chunk)")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(began), 0.25)
        XCTAssertLessThan(Date().timeIntervalSince(began), 3)
    }

    func testAnIdleStreamGetsKeepAliveComments() throws {
        try serve()  // heartbeat every 200 ms in the harness
        try start()
        let (c, _) = try openStream("/internal/v1/runs/r/stream?thread_id=t&tail_ms=3000")
        XCTAssertNotNil(c.readStream(until: ": keep-alive\n\n"))
    }

    // MARK: Terminal events

    func testTheTerminalEventIsReplayableAndFollowedByDone() throws {
        try serve()
        try start(events: 1)
        try append("run.finished", #"{"status":"succeeded"}"#)  // seq 3
        let (c, _) = try openStream("/internal/v1/runs/r/stream?thread_id=t&cursor=1")
        let text = try XCTUnwrap(c.readStream(until: "data: [DONE]\n\n"))
        XCTAssertEqual(ids(text), [2, 3])
        XCTAssertNotNil(c.readStream(until: "data: [DONE]\n\n\r\n0\r\n\r\n"), "the response ends right after [DONE]")
        let (again, _) = try openStream("/internal/v1/runs/r/stream?thread_id=t&cursor=2")
        XCTAssertEqual(ids(try XCTUnwrap(again.readStream(until: "data: [DONE]\n\n"))), [3], "replayable")
    }

    func testAStreamOpenWhenTheRunFinishesEndsWithDone() throws {
        try serve()
        try start(events: 1)
        let (c, _) = try openStream("/internal/v1/runs/r/stream?thread_id=t")
        usleep(100_000)
        try append("run.cancel_requested")
        try append("run.finished", #"{"status":"canceled"}"#)
        let text = try XCTUnwrap(c.readStream(until: "data: [DONE]\n\n"))
        XCTAssertEqual(ids(text), [3, 4])
    }

    // MARK: Resuming

    func testResumingAfterADisconnectDeliversEveryEventExactlyOnceInOrder() throws {
        try serve()
        try start(events: 0)  // seq 1
        let port = self.port
        let secret = Self.secret
        let writer = Thread {
            func post(_ json: String) {
                _ = RawClient.post(port: port, path: "/internal/v1/runs/r/events", json: json,
                                   headers: [(RuntimeSignature.header, RuntimeSignature.sign(RuntimeSignature.claims(), secret: secret))])
            }
            for i in 0..<60 {
                post(#"{"event_type":"text.delta","payload":{"i":\#(i)}}"#)
                usleep(2_000)
            }
            post(#"{"event_type":"run.finished","payload":{"status":"succeeded"}}"#)
        }
        writer.start()
        var received: [UInt64] = []
        var cursor: UInt64 = 0
        // Reconnect several times mid-stream, each time from the last id seen.
        for round in 0..<20 {
            let (c, head) = try openStream("/internal/v1/runs/r/stream?thread_id=t&tail_ms=400", headers: [("last-event-id", "\(cursor)")])
            XCTAssertEqual(head.status, 200)
            var text = ""
            if round < 4 {
                // Drop the connection after a few events.
                text = c.readStream(until: "id: \(cursor + 3)\n") ?? ""
            } else {
                text = c.readStream(until: "data: [DONE]\n\n") ?? ""
            }
            let got = ids(text)
            received += got
            cursor = got.last ?? cursor
            if text.contains("data: [DONE]") { break }
        }
        XCTAssertEqual(received, Array(1...62), "every event once, in order")
    }
}
