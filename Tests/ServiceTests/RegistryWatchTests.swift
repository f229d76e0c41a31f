import APIRuntime
@testable import ControlService
import Foundation
import Generated
import ProtoWire
import TestSupport
import XCTest

/// workspace/session/watch and unwatch on the WebSocket: every committed
/// event of the session pushed once, in order, as session/event
/// notifications (registry_rpc.proto), resumable from a seq.
final class RegistryWatchTests: RegistryHarness {
    /// The session/event notifications among `messages`, decoded into the contract's type.
    func events(_ messages: [[String: Any]]) throws -> [ControlV1.SessionEventNotification] {
        try messages.filter { $0["method"] as? String == "session/event" }.map { m in
            let bytes = [UInt8](try JSONSerialization.data(withJSONObject: m["params"] ?? [:]))
            return try ControlV1.SessionEventNotification(jsonBytes: bytes, options: JSONDecodingOptions(ignoreUnknownFields: false, acceptEnumWireWords: true))
        }
    }

    /// Reads notifications until `count` session events arrived (or the socket stalls).
    func collect(_ ws: WSClient, count: Int, into seen: inout [[String: Any]]) throws {
        while try events(seen).count < count {
            guard let text = ws.readText() else { XCTFail("the socket stalled after \(try events(seen).count) events"); return }
            if let o = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], o["method"] != nil { seen.append(o) }
        }
    }

    func send(_ ws: WSClient, _ session: String, _ text: String, id: String) {
        ws.send(text: Self.request("session/send", ["agent_type": "codex", "session_id": session, "text": text, "client_message_id": id], id: id))
    }

    func testAWatchPushesEveryCommittedEventOnceInOrder() throws {
        try serve()
        let s = try start()
        let ws = try socket()
        ws.send(text: Self.request("workspace/session/watch", ["session_id": s.sessionId, "after_seq": 0], id: "w"))
        var seen: [[String: Any]] = []
        let watching = try result(ControlV1.SessionWatchResult.self, try answer(ws, id: "w", notifications: &seen))
        XCTAssertTrue(watching.watching)
        XCTAssertTrue(seen.isEmpty, "no event is pushed before the watch's answer")
        for i in 1...20 { send(ws, s.sessionId, "message \(i)", id: "m\(i)") }
        ws.send(text: Self.request("session/stop", ["agent_type": "codex", "session_id": s.sessionId], id: "stop"))
        try collect(ws, count: 22, into: &seen)  // run.started, 20 frames, run.cancel_requested
        let got = try events(seen)
        XCTAssertEqual(got.map { $0.event?.seq ?? 0 }, Array(1...22), "every event once, in seq order")
        XCTAssertTrue(got.allSatisfy { $0.sessionId == s.sessionId })
        XCTAssertEqual(got.first?.event?.eventType, "run.started")
        // Calls on one socket run concurrently: the stop may commit between frames, but each event is pushed once.
        XCTAssertEqual(got.filter { $0.event?.eventType == "run.frame" }.count, 20)
        XCTAssertEqual(got.filter { $0.event?.eventType == "run.cancel_requested" }.count, 1)
    }

    func testAWatchFromTheHeadPushesOnlyNewEvents() throws {
        try serve()
        let s = try start()
        _ = try call(ControlV1.SessionFrameResult.self, "session/send", ["agent_type": "codex", "session_id": s.sessionId, "text": "before"])
        let ws = try socket()
        ws.send(text: Self.request("workspace/session/watch", ["session_id": s.sessionId], id: "w"))
        XCTAssertEqual(try result(ControlV1.SessionWatchResult.self, try answer(ws, id: "w")).afterSeq, 2)
        send(ws, s.sessionId, "after", id: "a1")
        var seen: [[String: Any]] = []
        try collect(ws, count: 1, into: &seen)
        XCTAssertEqual(try events(seen).map { $0.event?.seq ?? 0 }, [3])
    }

    func testAWatchResumesAfterTheSeqGiven() throws {
        try serve()
        let s = try start()
        for i in 0..<4 { _ = try call(ControlV1.SessionFrameResult.self, "session/send", ["agent_type": "codex", "session_id": s.sessionId, "text": "\(i)"]) }
        let ws = try socket()
        ws.send(text: Self.request("workspace/session/watch", ["session_id": s.sessionId, "after_seq": 3], id: "w"))
        var seen: [[String: Any]] = []
        _ = try answer(ws, id: "w", notifications: &seen)
        try collect(ws, count: 2, into: &seen)
        XCTAssertEqual(try events(seen).map { $0.event?.seq ?? 0 }, [4, 5])
        ws.send(text: Self.request("workspace/session/watch", ["session_id": s.sessionId, "after_seq": 99], id: "ahead"))
        XCTAssertEqual(try answer(ws, id: "ahead").code, -32602, "a seq ahead of the head is refused")
    }

    func testTheTerminalEventEndsTheWatch() throws {
        try serve()
        let s = try start()
        let ws = try socket()
        ws.send(text: Self.request("workspace/session/watch", ["session_id": s.sessionId, "after_seq": 1], id: "w"))
        _ = try answer(ws, id: "w")
        try appendAtRuntime(s.sessionId, "run.finished", ["status": "succeeded"])
        var seen: [[String: Any]] = []
        try collect(ws, count: 1, into: &seen)
        XCTAssertEqual(try events(seen).first?.event?.eventType, "run.finished")
        let deadline = Date().addingTimeInterval(3)
        while service?.handler.registry.watches.count != 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(service?.handler.registry.watches.count, 0, "the pump stopped after the terminal event")
    }

    func testUnwatchStopsTheNotifications() throws {
        try serve()
        let s = try start()
        let ws = try socket()
        ws.send(text: Self.request("workspace/session/watch", ["session_id": s.sessionId, "after_seq": 1], id: "w"))
        _ = try answer(ws, id: "w")
        send(ws, s.sessionId, "seen", id: "m1")
        var seen: [[String: Any]] = []
        try collect(ws, count: 1, into: &seen)
        ws.send(text: Self.request("workspace/session/unwatch", ["session_id": s.sessionId], id: "u"))
        let stopped = try result(ControlV1.SessionWatchResult.self, try answer(ws, id: "u", notifications: &seen))
        XCTAssertFalse(stopped.watching)
        XCTAssertEqual(stopped.afterSeq, 2)
        send(ws, s.sessionId, "unseen", id: "m2")
        _ = try answer(ws, id: "m2", notifications: &seen)
        ws.send(text: Self.request("workspace/session/history", [:], id: "h"))
        _ = try answer(ws, id: "h", notifications: &seen)
        XCTAssertEqual(try events(seen).map { $0.event?.seq ?? 0 }, [2], "nothing after the unwatch")
    }

    func testClosingTheSocketStopsItsWatches() throws {
        try serve()
        let s = try start()
        let ws = try socket()
        ws.send(text: Self.request("workspace/session/watch", ["session_id": s.sessionId], id: "w"))
        _ = try answer(ws, id: "w")
        let started = Date().addingTimeInterval(3)
        while service?.handler.registry.watches.count != 1 && Date() < started { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(service?.handler.registry.watches.count, 1)
        ws.send(8, [0x03, 0xE8])
        _ = ws.read()
        let deadline = Date().addingTimeInterval(3)
        while service?.handler.registry.watches.count != 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        XCTAssertEqual(service?.handler.registry.watches.count, 0)
    }

    func testAnotherUsersSessionCannotBeWatched() throws {
        try serve()
        let s = try start()
        let ws = try socket(as: "intruder")
        ws.send(text: Self.request("workspace/session/watch", ["session_id": s.sessionId, "after_seq": 0], id: "w"))
        XCTAssertEqual(try answer(ws, id: "w").code, RegistryRPC.sessionNotFound)
    }
}
