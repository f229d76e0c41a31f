import ControlService
import Foundation
import Generated
import Glibc
@testable import RuntimeCore
import TestSupport
import XCTest

/// The real `openagents serve --only control`: writers post codex worker
/// events and thread messages, `kill -9` lands in the middle, and after a
/// restart every acknowledged write is there, exactly once.
final class ControlCrashTests: XCTestCase {
    static let sessionKey = "crash-control-session-key"

    var binary: String { ServeProcess.binary }

    func start(dataDir: String) throws -> (Process, Int) {
        try ServeProcess.start(only: "control", dataDir: dataDir, environment: ["OA_CONTROL_SESSION_SECRET": Self.sessionKey])
    }

    func testEveryAcknowledgedControlWriteSurvivesKillDashNine() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "openagents binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("control-crash-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let auth = [("Authorization", "Bearer " + SessionTokens(key: Array(Self.sessionKey.utf8)).mint(userID: "u1", orgID: "o1", ttl: 3600).token)]
        var (server, port) = try start(dataDir: dir)
        let created = RawClient.post(port: port, path: "/api/runtime/codex/workers", json: #"{"worker_id":"codexw_crash"}"#, headers: auth)
        XCTAssertEqual(created?.status, 202, created?.text ?? "")

        // Four writers until the server dies: two append worker events, two thread messages; keep what was acknowledged.
        let lock = NSLock()
        nonisolated(unsafe) var events: Set<String> = []
        nonisolated(unsafe) var messages: Set<String> = []
        let group = DispatchGroup()
        let firstPort = port
        for w in 0..<4 {
            group.enter()
            Thread {
                defer { group.leave() }
                for i in 0..<100_000 {
                    let tag = "\(w)-\(i)"
                    if w < 2 {
                        guard let r = RawClient.post(port: firstPort, path: "/api/runtime/codex/workers/codexw_crash/events",
                                                     json: "{\"event_type\":\"worker.note\",\"payload\":{\"tag\":\"\(tag)\"}}", headers: auth) else { return }
                        if r.status == 202 { lock.withLock { _ = events.insert(tag) } }
                    } else {
                        guard let r = RawClient.post(port: firstPort, path: "/api/runtime/threads/t\(w)/messages",
                                                     json: "{\"text\":\"\(tag)\",\"idempotency_key\":\"\(tag)\"}", headers: auth) else { return }
                        if r.status == 201 { lock.withLock { _ = messages.insert(tag) } }
                    }
                }
            }.start()
        }
        // Kill once writes of both kinds are acknowledged, while the writers are still going.
        for _ in 0..<400 {
            let (e, m) = lock.withLock { (events.count, messages.count) }
            if e >= 100 && m >= 100 { break }
            usleep(5_000)
        }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        group.wait()
        XCTAssertGreaterThan(events.count, 10)
        XCTAssertGreaterThan(messages.count, 10)

        (server, port) = try start(dataDir: dir)
        defer { server.terminate(); server.waitUntilExit() }
        let stream = try XCTUnwrap(RawClient.get(port: port, path: "/api/runtime/codex/workers/codexw_crash/stream", headers: auth))
        let doc = try ControlV1.CodexWorkerStreamResponse(jsonBytes: stream.body)
        var seen: [String] = []
        for e in doc.data?.events ?? [] { if case .stringValue(let t)? = e.payload?.fields["tag"]?.kind { seen.append(t) } }
        XCTAssertEqual(seen.count, Set(seen).count, "no event twice")
        XCTAssertTrue(events.isSubset(of: Set(seen)), "lost \(events.subtracting(seen).count) acknowledged events")
        XCTAssertEqual(doc.data?.events.map(\.seq), (doc.data?.events.indices).map { $0.map { UInt64($0 + 1) } }, "seqs contiguous from 1")
        var stored: Set<String> = []
        for t in ["t2", "t3"] {
            var cursor = 0
            while true {
                let page = try ControlV1.ThreadMessageListResponse(jsonBytes: try XCTUnwrap(RawClient.get(port: port, path: "/api/runtime/threads/\(t)/messages?cursor=\(cursor)&limit=200", headers: auth)).body)
                for m in page.data { XCTAssertTrue(stored.insert(m.text).inserted, "message \(m.text) twice") }
                guard let next = Int(page.nextCursor) else { break }
                cursor = next
            }
        }
        XCTAssertTrue(messages.isSubset(of: stored), "lost \(messages.subtracting(stored).count) acknowledged messages")
        // A replay of an acknowledged key is still a replay.
        if let tag = messages.first {
            let r = RawClient.post(port: port, path: "/api/runtime/threads/t\(tag.prefix(1))/messages", json: "{\"text\":\"\(tag)\",\"idempotency_key\":\"\(tag)\"}", headers: auth)
            XCTAssertEqual(r?.status, 200, r?.text ?? "")
        }
    }
}
