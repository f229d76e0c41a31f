import APIRuntime
import Foundation
import Generated
@testable import RuntimeCore
import XCTest

/// `compact`: whole closed segments holding only events below every run's
/// retention floor go; nothing above a floor, no status change and no other
/// record ever does; the log still rebuilds and checks itself afterwards.
final class CompactionTests: XCTestCase {
    var dir = ""
    var path: String { dir + "/runtime-events.jsonl" }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("compact-\(UUID().uuidString)").path
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func open(_ segmentBytes: UInt64 = 600) throws -> RuntimeLedger { try RuntimeLedger(path: path, snapshotEvery: 0, segmentBytes: segmentBytes) }

    func append(_ ledger: RuntimeLedger, _ run: String, _ n: Int, type: String = "tool") async throws {
        for i in 0..<n {
            _ = try await ledger.append(runID: run, eventType: type, payload: try GoogleProtobuf.Value(jsonString: "{\"i\":\(i)}"), idempotencyKey: "\(run)-\(UUID().uuidString)")
        }
    }

    func testOnlySegmentsWhollyBelowTheFloorAreRemovedAndTheRestStillReads() async throws {
        let ledger = try open()
        _ = try await ledger.createRun(runID: "r")
        try await append(ledger, "r", 200)
        let before = try XCTUnwrap(ledger.run("r")).events
        let report = try ledger.compact(retention: 50)
        XCTAssertGreaterThan(report.segments, 3)
        let floor: UInt64 = 201 - 50
        // Everything above the floor is still there, byte for byte.
        XCTAssertEqual(try ledger.events(of: "r", after: floor, limit: 1000)?.events, Array(before.dropFirst(Int(floor))))
        // Every removed event was at or below the floor; the first segment (run creation, run.started) stays.
        let remaining = try LogSegments.list(path).flatMap { try LogFile.load(path: $0.path) }
        XCTAssertEqual(remaining.first?.lsn, 1)
        let kept = Set(remaining.compactMap { r -> UInt64? in if case .runEvent(let e)? = r.entry { return e.seq } else { return nil } })
        XCTAssertTrue(Set(UInt64(floor + 1)...201).isSubset(of: kept), "nothing above the floor is removed")
        XCTAssertEqual(UInt64(before.count - kept.count), report.events)
        // Reading below the floor is 410, not a wrong answer.
        XCTAssertThrowsError(try ledger.run("r")) { XCTAssertEqual(($0 as? APIError)?.kind, .staleCursor) }
        // The log still rebuilds and checks itself, across the gaps.
        XCTAssertEqual(try RuntimeLedger.verify(path: path).differences, [])
        let reopened = try open()
        XCTAssertEqual(reopened.recoveredFrom, .log)
        XCTAssertEqual(reopened.runRecord("r"), ledger.runRecord("r"))
        XCTAssertEqual(try reopened.events(of: "r", after: floor, limit: 1000)?.events, Array(before.dropFirst(Int(floor))))
        _ = try await reopened.append(runID: "r", eventType: "tool", payload: nil)
        XCTAssertEqual(reopened.runRecord("r")?.latestSeq, 202)
    }

    func testAnEventAboveItsRunsFloorKeepsItsSegment() async throws {
        let ledger = try open()
        _ = try await ledger.createRun(runID: "busy")
        _ = try await ledger.createRun(runID: "quiet")
        for _ in 0..<20 {
            try await append(ledger, "busy", 10)
            try await append(ledger, "quiet", 1)
        }
        _ = try ledger.compact(retention: 30)
        // quiet has 21 events, all above its floor (21 - 30 < 0): every one still reads.
        XCTAssertEqual(try ledger.run("quiet")?.events.map(\.seq), Array(1...21).map(UInt64.init))
        XCTAssertEqual(try RuntimeLedger.verify(path: path).differences, [])
    }

    func testAStatusChangeKeepsItsSegment() async throws {
        let ledger = try open()
        _ = try await ledger.createRun(runID: "r")
        try await append(ledger, "r", 60)
        _ = try await ledger.cancel(runID: "r", reason: "stop")
        try await append(ledger, "r", 100)
        let cancelSeq: UInt64 = 62
        let report = try ledger.compact(retention: 10)
        XCTAssertGreaterThan(report.segments, 0)
        let page = try XCTUnwrap(ledger.events(of: "r", after: cancelSeq - 1, limit: 1))
        XCTAssertEqual(page.events.first?.eventType, "run.cancel_requested", "the segment with the status change stays")
        XCTAssertEqual(try open().runRecord("r")?.status, .canceling)
        XCTAssertEqual(try RuntimeLedger.verify(path: path).differences, [])
    }

    func testCompactionDuringAppendsLosesNothing() async throws {
        let ledger = try open(400)
        _ = try await ledger.createRun(runID: "r")
        let stop = Task.detached {
            var removed = 0
            while !Task.isCancelled {
                removed += (try? ledger.compact(retention: 25).segments) ?? 0
                try? await Task.sleep(nanoseconds: 1_000_000)
            }
            return removed
        }
        var acknowledged: [RuntimeV1.RuntimeRunEvent] = []
        for i in 0..<400 {
            acknowledged.append(try await ledger.append(runID: "r", eventType: "tool", payload: try GoogleProtobuf.Value(jsonString: "{\"i\":\(i)}"), idempotencyKey: "k\(i)").event)
        }
        stop.cancel()
        let removed = await stop.value
        _ = try ledger.compact(retention: 25)
        XCTAssertGreaterThan(removed, 0, "compactions ran while appends went on")
        XCTAssertEqual(acknowledged.map(\.seq), Array(2...401).map(UInt64.init))
        // Every acknowledged event above the floor is there, as acknowledged, live and after a restart.
        let floor: UInt64 = 401 - 25
        let above = acknowledged.filter { $0.seq > floor }
        XCTAssertEqual(try ledger.events(of: "r", after: floor, limit: 100)?.events, above)
        let reopened = try open(400)
        XCTAssertEqual(try reopened.events(of: "r", after: floor, limit: 100)?.events, above)
        XCTAssertEqual(reopened.runRecord("r")?.latestSeq, 401)
        XCTAssertEqual(try RuntimeLedger.verify(path: path).differences, [])
        // A retried append above the floor is still a replay.
        let retry = try await reopened.append(runID: "r", eventType: "tool", payload: try GoogleProtobuf.Value(jsonString: #"{"i":399}"#), idempotencyKey: "k399")
        XCTAssertTrue(retry.idempotentReplay)
    }

    func testACompactionInterruptedBeforeItRemovedFilesIsFinishedAtStartUp() async throws {
        let ledger = try open()
        _ = try await ledger.createRun(runID: "r")
        try await append(ledger, "r", 120)
        let saved = Dictionary(uniqueKeysWithValues: try LogSegments.list(path).map { ($0.path, try Data(contentsOf: URL(fileURLWithPath: $0.path))) })
        XCTAssertGreaterThan(try ledger.compact(retention: 20).segments, 0)
        let head = ledger.runRecord("r")
        // As if the process died after the manifest was durable and before any unlink.
        for (file, data) in saved where !FileManager.default.fileExists(atPath: file) { try data.write(to: URL(fileURLWithPath: file)) }
        let reopened = try open()
        XCTAssertEqual(reopened.runRecord("r"), head)
        XCTAssertFalse(saved.keys.allSatisfy { FileManager.default.fileExists(atPath: $0) }, "the removal was finished")
        XCTAssertEqual(try RuntimeLedger.verify(path: path).differences, [])
    }

    func testASnapshotFromBeforeACompactionIsReconciled() async throws {
        let ledger = try open()
        _ = try await ledger.createRun(runID: "r")
        try await append(ledger, "r", 100)
        // The snapshot names the cancel, whose segment a compaction keeps (a status change).
        _ = try await ledger.cancel(runID: "r", reason: "stop")
        try ledger.writeSnapshot()
        try await append(ledger, "r", 40)
        XCTAssertGreaterThan(try ledger.compact(retention: 15).segments, 0)
        let reopened = try open()
        XCTAssertEqual(reopened.recoveredFrom, .snapshot, reopened.snapshotProblem ?? "")
        XCTAssertEqual(reopened.runRecord("r"), ledger.runRecord("r"))
        XCTAssertThrowsError(try reopened.run("r")) { XCTAssertEqual(($0 as? APIError)?.kind, .staleCursor) }
        XCTAssertEqual(try RuntimeLedger.verify(path: path).differences, [])
    }

    func testNoRetentionMeansNothingIsRemoved() async throws {
        let ledger = try open()
        _ = try await ledger.createRun(runID: "r")
        try await append(ledger, "r", 100)
        let segments = LogSegments.list(path)
        XCTAssertEqual(try ledger.compact(retention: 0), CompactionReport())
        XCTAssertEqual(LogSegments.list(path), segments)
    }

    func testADamagedCompactionRecordStopsStartUp() async throws {
        let ledger = try open()
        _ = try await ledger.createRun(runID: "r")
        try await append(ledger, "r", 100)
        _ = try ledger.compact(retention: 10)
        let manifest = RuntimeLedger.compactionPath(path)
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: manifest))
        bytes[bytes.count - 1] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: manifest))
        XCTAssertThrowsError(try open()) { XCTAssertTrue("\($0)".contains("compacted"), "\($0)") }
    }
}
