import Foundation
import Generated
import Glibc
@testable import RuntimeCore
import TestSupport
import XCTest

/// Topics are derived from the committed log: a cursor taken before
/// `kill -9` of the real `openagents serve` resumes after the restart, with
/// every acknowledged event there exactly once (the earlier system's
/// in-memory queue lost them all).
final class KhalaCrashTests: XCTestCase {
    var binary: String { ServeProcess.binary }
    func start(dataDir: String) throws -> (Process, Int) { try ServeProcess.start(only: "runtime", dataDir: dataDir) }

    func testACursorTakenBeforeKillDashNineResumesAfterTheRestart() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "openagents binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("khala-crash-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        var (server, port) = try start(dataDir: dir)
        let secret = try RuntimeSignature.loadSecret(environment: [:], dataDirectory: dir)
        func signed() -> [(String, String)] { [(RuntimeSignature.header, RuntimeSignature.sign(RuntimeSignature.claims(), secret: secret)), ("x-oa-user-id", "u1")] }
        let key = try SyncAuthorizer.loadKey(environment: [:], dataDirectory: dir)
        func bearer() throws -> [(String, String)] {
            let now = Int64(Date().timeIntervalSince1970)
            let c: [String: Any] = ["iss": "https://openagents.com", "aud": "openagents-sync", "iat": now, "exp": now + 300, "jti": UUID().uuidString,
                                    "oa_user_id": "u1", "oa_sync_scopes": ["runtime.run_events"]]
            return [("authorization", "Bearer " + JWT.sign(claims: [UInt8](try JSONSerialization.data(withJSONObject: c)), key: key))]
        }
        XCTAssertEqual(RawClient.post(port: port, path: "/internal/v1/runs", json: #"{"run_id":"rk","thread_id":"t"}"#, headers: signed())?.status, 201)
        for i in 0..<10 {
            XCTAssertEqual(RawClient.post(port: port, path: "/internal/v1/runs/rk/events", json: #"{"event_type":"run.step","payload":{"i":\#(i)}}"#, headers: signed())?.status, 200)
        }
        let before = try SyncV1.KhalaPollResponse(jsonBytes: XCTUnwrap(RawClient.get(port: port, path: "/internal/v1/khala/topics/run:rk:events/messages?after_seq=0&limit=5", headers: bearer())).body)
        XCTAssertEqual(before.nextCursor, 5)
        // Appends acknowledged right up to the kill.
        var acknowledged: UInt64 = 11
        for i in 0..<20 {
            guard let r = RawClient.post(port: port, path: "/internal/v1/runs/rk/events", json: #"{"event_type":"run.step","payload":{"j":\#(i)}}"#, headers: signed()), r.status == 200 else { break }
            acknowledged += 1
        }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        (server, port) = try start(dataDir: dir)
        defer { server.terminate(); server.waitUntilExit() }
        var seqs: [UInt64] = []
        var cursor = before.nextCursor
        while true {
            let r = try XCTUnwrap(RawClient.get(port: port, path: "/internal/v1/khala/topics/run:rk:events/messages?after_seq=\(cursor)", headers: bearer()))
            if r.status == 429 { usleep(260_000); continue }
            let p = try SyncV1.KhalaPollResponse(jsonBytes: r.body)
            seqs += p.messages.map(\.sequence)
            cursor = p.nextCursor
            if p.replayComplete { break }
        }
        XCTAssertEqual(seqs, Array(6...acknowledged))
        // And over the WebSocket lane, from the same cursor.
        let ws = try WSClient(port: port, path: "/internal/v1/khala/topics/run:rk:events/ws?after_seq=5", headers: bearer())
        XCTAssertEqual(ws.upgrade.status, 101)
        var pushed: [UInt64] = []
        while pushed.last ?? 0 < acknowledged, let text = ws.readText() {
            let f = try SyncV1.KhalaSocketFrame(jsonBytes: Array(text.utf8))
            if f.type == "message" { pushed.append(try SyncV1.FanoutMessage(jsonBytes: f.message?.jsonBytes() ?? []).sequence) }
        }
        XCTAssertEqual(pushed, Array(6...acknowledged))
    }
}
