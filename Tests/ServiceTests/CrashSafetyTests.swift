import Foundation
import Generated
import Glibc
@testable import RuntimeCore
@testable import RuntimeService
import TestSupport
import XCTest

/// The real `openagents serve` binary: concurrent appends, `kill -9` in the
/// middle, restart; every acknowledged event is there exactly once, and runs,
/// workers, checkpoints, receipts and replays are intact.
final class CrashSafetyTests: XCTestCase {
    static let secret = "crash-test-secret"
    /// A signed-request header with a fresh token.
    static func signed() -> [(String, String)] { [(RuntimeSignature.header, RuntimeSignature.sign(RuntimeSignature.claims(), secret: Array(Self.secret.utf8)))] }

    var binary: String { ServeProcess.binary }

    /// Starts `serve` on a free random port with the test's signature secret.
    func start(dataDir: String, environment: [String: String] = [:]) throws -> (Process, Int) {
        try ServeProcess.start(only: "runtime", dataDir: dataDir, environment: ["OA_RUNTIME_SIGNATURE_SECRET": Self.secret].merging(environment) { $1 })
    }

    func testEveryAcknowledgedEventSurvivesKillDashNine() throws {
        try crashAndRestart(environment: ["RUNTIME_SNAPSHOT_EVERY_RECORDS": "0"])
    }

    /// The same, with a snapshot written every 25 records and a new segment
    /// every 8 KiB, so `kill -9` lands during or between snapshot writes and
    /// segment rolls; the restart starts from the newest whole snapshot and the
    /// log after it, and equals a full rebuild.
    func testEveryAcknowledgedEventSurvivesKillDashNineDuringSnapshotWrites() throws {
        let dir = try crashAndRestart(environment: ["RUNTIME_SNAPSHOT_EVERY_RECORDS": "25", "RUNTIME_SEGMENT_BYTES": "8192"])
        XCTAssertGreaterThan(LogSegments.list(dir + "/runtime-events.jsonl").count, 3, "the log rolled into segments")
        let log = dir + "/runtime-events.jsonl"
        XCTAssertTrue(FileManager.default.fileExists(atPath: log + ".snapshot"), "snapshots were written")
        let (source, differences) = try RuntimeLedger.verify(path: log)
        XCTAssertEqual(source, .snapshot)
        XCTAssertEqual(differences, [])
    }

    /// Runs `openagents compact` on `dir`; kills it with SIGKILL after `killAfterUs` if given.
    func compact(_ dir: String, environment: [String: String], killAfterUs: UInt32? = nil) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["compact", "--data-dir", dir]
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        if let killAfterUs {
            usleep(killAfterUs)
            kill(p.processIdentifier, SIGKILL)
        }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// `openagents compact` refuses a data directory being served; killed with
    /// `kill -9` at random points it loses nothing above any floor, and the
    /// log still rebuilds and checks itself.
    func testKillDashNineDuringCompactionLosesNothingAboveTheFloor() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "openagents binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("compact-crash-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["RUNTIME_SEGMENT_BYTES": "4096", "RUNTIME_STREAM_RETENTION_EVENTS": "50", "RUNTIME_SNAPSHOT_EVERY_RECORDS": "100"]
        var (server, port) = try start(dataDir: dir, environment: env)
        let first = server
        addTeardownBlock { if first.isRunning { first.terminate(); first.waitUntilExit() } }
        XCTAssertEqual(RawClient.post(port: port, path: "/internal/v1/runs", json: #"{"run_id":"c"}"#, headers: CrashSafetyTests.signed())?.status, 201)
        for i in 0..<600 {
            let r = RawClient.post(port: port, path: "/internal/v1/runs/c/events", json: #"{"event_type":"tool","payload":{"tool":"t","i":\#(i)},"idempotency_key":"k\#(i)"}"#, headers: CrashSafetyTests.signed())
            XCTAssertEqual(r?.status, 200, r?.text ?? "")
        }
        XCTAssertEqual(try compact(dir, environment: env), 1, "a served data directory is not compacted")
        server.terminate()
        server.waitUntilExit()
        let log = dir + "/runtime-events.jsonl"
        let before = try XCTUnwrap(RuntimeLedger(path: log, snapshotEvery: 0).events(of: "c", after: 551, limit: 100)).events

        for _ in 0..<12 { _ = try compact(dir, environment: env, killAfterUs: UInt32.random(in: 0..<40_000)) }
        XCTAssertEqual(try compact(dir, environment: env), 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: RuntimeLedger.compactionPath(log)), "segments were removed")

        (server, port) = try start(dataDir: dir, environment: env)
        defer { server.terminate(); server.waitUntilExit() }
        let run = RawClient.get(port: port, path: "/internal/v1/runs/c", headers: CrashSafetyTests.signed())
        XCTAssertTrue(run?.text.contains("\"latestSeq\":601") ?? false, run?.text ?? "")
        let stream = RawClient.get(port: port, path: "/internal/v1/runs/c/receipt", headers: CrashSafetyTests.signed())
        XCTAssertEqual(stream?.status, 410, "a receipt needs events that were compacted away")
        let ledger = try RuntimeLedger(path: log, snapshotEvery: 0)
        XCTAssertEqual(try ledger.events(of: "c", after: 551, limit: 100)?.events, before)
        XCTAssertEqual(try RuntimeLedger.verify(path: log).differences, [])
    }

    @discardableResult
    func crashAndRestart(environment: [String: String]) throws -> String {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary), "openagents binary not built next to the tests")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        var (server, port) = try start(dataDir: dir, environment: environment)
        let firstPort = port
        XCTAssertEqual(RawClient.post(port: port, path: "/internal/v1/runs", json: #"{"run_id":"crash"}"#, headers: CrashSafetyTests.signed())?.status, 201)
        XCTAssertEqual(RawClient.post(port: port, path: "/internal/v1/workers", json: #"{"worker_id":"w","owner_user_id":"u"}"#, headers: CrashSafetyTests.signed())?.status, 201)
        XCTAssertEqual(RawClient.post(port: port, path: "/internal/v1/workers/w/heartbeat", json: #"{"owner_user_id":"u","metadata_patch":{"k":"v"}}"#, headers: CrashSafetyTests.signed())?.status, 200)

        // Four writers append with unique keys until the server dies; keep every acknowledged key.
        let acked = NSLock()
        nonisolated(unsafe) var acknowledged: Set<String> = []
        let group = DispatchGroup()
        for w in 0..<4 {
            DispatchQueue.global().async(group: group) {
                for i in 0..<400 {
                    let key = "w\(w)-\(i)"
                    guard let r = RawClient.post(port: firstPort, path: "/internal/v1/runs/crash/events", json: #"{"event_type":"tool","payload":{"tool":"t","i":\#(i)},"idempotency_key":"\#(key)"}"#, headers: CrashSafetyTests.signed()) else { return }
                    if r.status == 200 { acked.lock(); acknowledged.insert(key); acked.unlock() }
                }
            }
        }
        // Kill once some appends are acknowledged, while writers are still going.
        for _ in 0..<400 {
            acked.lock(); let n = acknowledged.count; acked.unlock()
            if n >= 150 { break }
            usleep(5_000)
        }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
        group.wait()
        XCTAssertGreaterThan(acknowledged.count, 0)
        print("# crash test: \(acknowledged.count) appends acknowledged before kill -9")

        // Restart: the run and every acknowledged event are there, exactly once, in contiguous order.
        (server, port) = try start(dataDir: dir, environment: environment)
        defer { server.terminate(); server.waitUntilExit() }
        let run = RawClient.get(port: port, path: "/internal/v1/runs/crash", headers: CrashSafetyTests.signed())
        XCTAssertEqual(run?.status, 200)
        let ledger = try RuntimeLedger(path: dir + "/runtime-events.jsonl", snapshotEvery: 0)
        let state = try XCTUnwrap(ledger.run("crash"))
        let keys = state.events.map(\.idempotencyKey).filter { !$0.isEmpty }
        XCTAssertEqual(Set(keys).count, keys.count, "no event recorded twice")
        XCTAssertTrue(acknowledged.isSubset(of: Set(keys)), "lost acknowledged events: \(acknowledged.subtracting(keys).sorted().prefix(5))")
        XCTAssertEqual(state.events.map(\.seq), Array(1...UInt64(state.events.count)))
        print("# crash test: \(keys.count) events in the log after restart")
        XCTAssertTrue(run?.text.contains("\"latestSeq\":\(state.events.count)") ?? false, run?.text ?? "")
        // The worker and its heartbeat survived; the projector caught up with the whole log.
        let worker = RawClient.get(port: port, path: "/internal/v1/workers/w?owner_user_id=u", headers: CrashSafetyTests.signed())
        XCTAssertTrue(worker?.text.contains("\"latestSeq\":2") ?? false, worker?.text ?? "")
        XCTAssertTrue(worker?.text.contains("\"k\":\"v\"") ?? false, worker?.text ?? "")
        for _ in 0..<200 where RawClient.get(port: port, path: "/readyz")?.status != 200 { usleep(25_000) }
        let checkpoint = RawClient.get(port: port, path: "/internal/v1/projectors/checkpoints/crash", headers: CrashSafetyTests.signed())
        XCTAssertTrue(checkpoint?.text.contains("\"last_seq\":\(state.events.count)") ?? false, checkpoint?.text ?? "")
        XCTAssertTrue(RawClient.get(port: port, path: "/internal/v1/workers/w/checkpoint", headers: CrashSafetyTests.signed())?.text.contains("\"last_seq\":2") ?? false)
        // Receipt and replay served after the crash are the ones the log alone gives.
        let (_, receipt) = try Artifacts.receipt(run: state.run, events: state.events)
        XCTAssertEqual(RawClient.get(port: port, path: "/internal/v1/runs/crash/receipt", headers: CrashSafetyTests.signed())?.body, receipt)
        XCTAssertEqual(RawClient.get(port: port, path: "/internal/v1/runs/crash/replay", headers: CrashSafetyTests.signed())?.body, try Artifacts.replay(run: state.run, events: state.events))
        // Retrying an acknowledged append after the restart is an idempotent replay, not a new event.
        if let key = acknowledged.first {
            let i = key.split(separator: "-").last ?? "0"
            let again = RawClient.post(port: port, path: "/internal/v1/runs/crash/events", json: #"{"event_type":"tool","payload":{"tool":"t","i":\#(i)},"idempotency_key":"\#(key)"}"#, headers: CrashSafetyTests.signed())
            XCTAssertTrue(again?.text.contains("\"idempotentReplay\":true") ?? false, again?.text ?? "")
        }
        return dir
    }
}
