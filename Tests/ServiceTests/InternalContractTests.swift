import Foundation
import Generated
import HTTPServer
@testable import RuntimeCore
@testable import RuntimeService
import TestSupport
import XCTest

/// runtime-internal-contract.md: frames, cancel, snapshot and comms delivery
/// events, one test per rule.
final class InternalContractTests: ServiceHarness {
    let frame = #"{"thread_id":"t1","frame_id":"f1","type":"user_message","payload":{"text":"hi"}}"#

    func createRun(_ owner: String = "u1") throws {
        XCTAssertEqual(try post("/internal/v1/runs", #"{"run_id":"r1","thread_id":"t1"}"#, headers: [("x-oa-user-id", owner)]).status, 201)
    }

    // MARK: Frames

    func testAFirstFrameIs202AndDurable() async throws {
        try serve()
        try createRun()
        let r = try post("/internal/v1/runs/r1/frames", frame)
        XCTAssertEqual(r.status, 202)
        XCTAssertEqual(r.text, #"{"runId":"r1","frameId":"f1","status":"accepted","idempotentReplay":false}"#)
        await server?.shutdown(deadline: 2)
        let events = try RuntimeLedger(path: dir + "/runtime-events.jsonl").run("r1")?.events ?? []
        XCTAssertEqual(events.last?.eventType, "run.frame")
        XCTAssertEqual(JSONValue.stringField(events.last?.payloadJson, "frame_id"), "f1")
    }

    func testAnEquivalentDuplicateFrameIs200WithIdempotentReplay() throws {
        try serve()
        try createRun()
        _ = try post("/internal/v1/runs/r1/frames", frame)
        let again = try post("/internal/v1/runs/r1/frames", frame)
        XCTAssertEqual(again.status, 200)
        XCTAssertTrue(again.text.contains(#""idempotentReplay":true"#))
        XCTAssertTrue(try get("/internal/v1/runs/r1").text.contains(#""latestSeq":2"#), "one frame event, not two")
    }

    func testADuplicateFrameIdWithAnotherPayloadOrTypeIs409() throws {
        try serve()
        try createRun()
        _ = try post("/internal/v1/runs/r1/frames", frame)
        XCTAssertEqual(try post("/internal/v1/runs/r1/frames", frame.replacingOccurrences(of: "\"hi\"", with: "\"ho\"")).status, 409)
        XCTAssertEqual(try post("/internal/v1/runs/r1/frames", frame.replacingOccurrences(of: "user_message", with: "tool_result")).status, 409)
    }

    func testAFrameNeedsThreadIdFrameIdTypeAndPayload() throws {
        try serve()
        try createRun()
        let r = try post("/internal/v1/runs/r1/frames", #"{"thread_id":"t1"}"#)
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(r.text.contains("frame_id: required") && r.text.contains("type: required") && r.text.contains("payload: required"), r.text)
    }

    func testAFrameForAnotherThreadOrPrincipalIs403AndForAnUnknownRun404() throws {
        try serve()
        try createRun()
        XCTAssertEqual(try post("/internal/v1/runs/r1/frames", frame.replacingOccurrences(of: "\"t1\"", with: "\"t2\"")).status, 403)
        XCTAssertEqual(try post("/internal/v1/runs/r1/frames", frame, headers: [("x-oa-user-id", "intruder")]).status, 403)
        XCTAssertEqual(try post("/internal/v1/runs/r1/frames", frame, headers: [("x-oa-user-id", "u1")]).status, 202)
        XCTAssertEqual(try post("/internal/v1/runs/nope/frames", frame).status, 404)
    }

    // MARK: Cancel

    func testAFirstCancelIs202AndMovesTheRunToCanceling() throws {
        try serve()
        try createRun()
        let r = try post("/internal/v1/runs/r1/cancel", #"{"thread_id":"t1","reason":"user requested stop"}"#)
        XCTAssertEqual(r.status, 202)
        XCTAssertEqual(r.text, #"{"runId":"r1","status":"canceling","cancelRequested":true,"idempotentReplay":false}"#)
        XCTAssertTrue(try get("/internal/v1/runs/r1").text.contains(#""status":"canceling""#))
    }

    func testADuplicateCancelIs200WithIdempotentReplay() throws {
        try serve()
        try createRun()
        _ = try post("/internal/v1/runs/r1/cancel", #"{"thread_id":"t1"}"#)
        let again = try post("/internal/v1/runs/r1/cancel", #"{"thread_id":"t1","reason":"again"}"#)
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(again.text, #"{"runId":"r1","status":"canceling","cancelRequested":true,"idempotentReplay":true}"#)
        XCTAssertTrue(try get("/internal/v1/runs/r1").text.contains(#""latestSeq":2"#), "one cancel event")
    }

    func testCancelNeedsAThreadId() throws {
        try serve()
        try createRun()
        XCTAssertEqual(try post("/internal/v1/runs/r1/cancel", "{}").status, 400)
    }

    func testLateResultsCannotReopenACanceledRun() throws {
        try serve()
        try createRun()
        _ = try post("/internal/v1/runs/r1/cancel", #"{"thread_id":"t1"}"#)
        XCTAssertEqual(try post("/internal/v1/runs/r1/events", #"{"event_type":"run.finished","payload":{"status":"canceled"}}"#).status, 200)
        XCTAssertEqual(try post("/internal/v1/runs/r1/events", #"{"event_type":"run.finished","payload":{"status":"succeeded"}}"#).status, 409)
        XCTAssertEqual(try post("/internal/v1/runs/r1/events", #"{"event_type":"run.started"}"#).status, 409)
        XCTAssertEqual(try post("/internal/v1/runs/r1/frames", frame).status, 409, "no new input for a canceled run")
        XCTAssertEqual(try post("/internal/v1/runs/r1/cancel", #"{"thread_id":"t1"}"#).status, 200, "cancel stays an idempotent replay")
        XCTAssertTrue(try get("/internal/v1/runs/r1").text.contains(#""status":"canceled""#))
    }

    func testAFinishedRunCannotBeCanceled() throws {
        try serve()
        try createRun()
        _ = try post("/internal/v1/runs/r1/events", #"{"event_type":"run.finished","payload":{"status":"succeeded"}}"#)
        let r = try post("/internal/v1/runs/r1/cancel", #"{"thread_id":"t1"}"#)
        XCTAssertEqual(r.status, 409)
        XCTAssertTrue(r.text.contains("invalid_transition.succeeded.request_cancel"), r.text)
    }

    // MARK: Snapshot

    func testSnapshotReturnsTheRunForItsOwnerAndThread() throws {
        try serve()
        try createRun()
        let r = try get("/internal/v1/runs/r1/snapshot?thread_id=t1", headers: [("x-oa-user-id", "u1")])
        XCTAssertEqual(r.status, 200)
        let v = try object(r)
        XCTAssertEqual(JSONValue.stringField(v, "runId"), "r1")
        XCTAssertEqual(JSONValue.stringField(v, "threadId"), "t1")
        XCTAssertEqual(JSONValue.stringField(v, "status"), "running")
        XCTAssertEqual(JSONValue.numberField(v, "latestSeq"), 1)
        XCTAssertNotNil(JSONValue.stringField(v, "updatedAt"))
    }

    func testSnapshotNeedsAThreadIdAndAPrincipal() throws {
        try serve()
        try createRun()
        XCTAssertEqual(try get("/internal/v1/runs/r1/snapshot", headers: [("x-oa-user-id", "u1")]).status, 400)
        XCTAssertEqual(try get("/internal/v1/runs/r1/snapshot?thread_id=t1").status, 400)
    }

    func testSnapshotForAnotherPrincipalOrThreadIs403() throws {
        try serve()
        try createRun()
        XCTAssertEqual(try get("/internal/v1/runs/r1/snapshot?thread_id=t1", headers: [("x-oa-user-id", "u2")]).status, 403)
        XCTAssertEqual(try get("/internal/v1/runs/r1/snapshot?thread_id=t1", headers: [("x-oa-guest-scope", "u1")]).status, 403)
        XCTAssertEqual(try get("/internal/v1/runs/r1/snapshot?thread_id=t9", headers: [("x-oa-user-id", "u1")]).status, 403)
    }

    // MARK: Comms delivery events

    let delivery = #"{"event_id":"resend_evt_123","provider":"resend","delivery_state":"delivered","message_id":"email_abc","recipient":"user@example.com","occurred_at":"2026-02-19T18:00:00Z","reason":null,"payload":{"rawType":"email.delivered"}}"#

    func testAFirstDeliveryEventIs202() throws {
        try serve()
        let r = try post("/internal/v1/comms/delivery-events", delivery)
        XCTAssertEqual(r.status, 202)
        XCTAssertEqual(r.text, #"{"eventId":"resend_evt_123","status":"accepted","idempotentReplay":false}"#)
    }

    func testTheSameDeliveryEventAgainIs200WithIdempotentReplay() throws {
        try serve()
        _ = try post("/internal/v1/comms/delivery-events", delivery)
        let r = try post("/internal/v1/comms/delivery-events", delivery)
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.text.contains(#""idempotentReplay":true"#))
    }

    func testADeliveryEventIdWithAnotherPayloadIs409() throws {
        try serve()
        _ = try post("/internal/v1/comms/delivery-events", delivery)
        let r = try post("/internal/v1/comms/delivery-events", delivery.replacingOccurrences(of: "\"delivered\"", with: "\"bounced\""))
        XCTAssertEqual(r.status, 409)
        XCTAssertTrue(r.text.contains("event_id payload mismatch"), r.text)
    }

    func testTheSameEventIdFromAnotherProviderIsAnotherEvent() throws {
        try serve()
        _ = try post("/internal/v1/comms/delivery-events", delivery)
        XCTAssertEqual(try post("/internal/v1/comms/delivery-events", delivery.replacingOccurrences(of: "\"resend\"", with: "\"postmark\"")).status, 202)
    }

    func testADeliveryEventNeedsEventIdProviderStateAndPayload() throws {
        try serve()
        let bodies = ["event_id": #"{"provider":"p","delivery_state":"d","payload":{}}"#,
                      "provider": #"{"event_id":"e","delivery_state":"d","payload":{}}"#,
                      "delivery_state": #"{"event_id":"e","provider":"p","payload":{}}"#]
        for (field, body) in bodies {
            let r = try post("/internal/v1/comms/delivery-events", body)
            XCTAssertEqual(r.status, 400, field)
            XCTAssertTrue(r.text.contains("\(field): required"), r.text)
        }
        let nullPayload = try post("/internal/v1/comms/delivery-events", #"{"event_id":"e","provider":"p","delivery_state":"d","payload":null}"#)
        XCTAssertEqual(nullPayload.status, 400)
        XCTAssertTrue(nullPayload.text.contains("payload: required"), nullPayload.text)
    }

    func testDeliveryEventsSurviveARestart() async throws {
        try serve()
        _ = try post("/internal/v1/comms/delivery-events", delivery)
        await server?.shutdown(deadline: 2)
        try serve()
        XCTAssertEqual(try post("/internal/v1/comms/delivery-events", delivery).status, 200)
        XCTAssertEqual(try post("/internal/v1/comms/delivery-events", delivery.replacingOccurrences(of: "\"delivered\"", with: "\"bounced\"")).status, 409)
    }
}
