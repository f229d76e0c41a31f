import APIRuntime
import Foundation
import Generated
@testable import RuntimeCore
import XCTest

/// The log as segment files: rolled at the configured size, named by their
/// global base offset, read, recovered, snapshotted and repaired as one log.
final class LogSegmentTests: XCTestCase {
    var dir = ""
    var path: String { dir + "/runtime-events.jsonl" }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("segments-\(UUID().uuidString)").path
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func fill(_ ledger: RuntimeLedger, events: Int) async throws {
        if ledger.runRecord("r") == nil { _ = try await ledger.createRun(runID: "r") }
        for i in 0..<events {
            _ = try await ledger.append(runID: "r", eventType: "tool", payload: try GoogleProtobuf.Value(jsonString: "{\"i\":\(i)}"), idempotencyKey: "k\(UUID().uuidString)")
        }
    }

    func testTheLogRollsIntoSegmentsNamedByTheirBaseOffset() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0, segmentBytes: 1000)
        try await fill(ledger, events: 40)
        let segments = LogSegments.list(path)
        XCTAssertGreaterThan(segments.count, 3)
        XCTAssertEqual(segments.first?.path, path, "the first segment is the log path itself")
        var expectedBase: UInt64 = 0
        for s in segments {
            XCTAssertEqual(s.base, expectedBase, "each segment starts where the one before ends")
            XCTAssertEqual(s.path, LogSegments.path(path, base: s.base))
            let size = LogSegments.size(s.path)
            XCTAssertEqual(try XCTUnwrap(FileManager.default.contents(atPath: s.path)).last, 0x0A, "whole lines only")
            expectedBase += size
        }
        let reopened = try RuntimeLedger(path: path, snapshotEvery: 0, segmentBytes: 1000)
        XCTAssertEqual(try reopened.run("r")?.events, try ledger.run("r")?.events)
        XCTAssertEqual(try reopened.run("r")?.events.map(\.seq), Array(1...41).map(UInt64.init))
    }

    func testALogFromBeforeSegmentsOpensAsTheFirstSegmentAndRollsFromThere() async throws {
        let old = try RuntimeLedger(path: path, snapshotEvery: 0)
        try await fill(old, events: 20)
        XCTAssertEqual(LogSegments.list(path).count, 1)
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0, segmentBytes: 1000)
        try await fill(ledger, events: 20)
        XCTAssertGreaterThan(LogSegments.list(path).count, 1)
        XCTAssertEqual(try RuntimeLedger(path: path, snapshotEvery: 0).run("r")?.events.count, 41)
    }

    func testReadsTheChangeFeedAndSnapshotsSpanSegments() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0, segmentBytes: 700)
        try await fill(ledger, events: 15)
        try ledger.writeSnapshot()
        try await fill(ledger, events: 15)
        var cursor = ChangeCursor.start
        var lsns: [UInt64] = []
        while true {
            let (records, next) = try ledger.changes(after: cursor, limit: 4)
            if records.isEmpty { break }
            lsns += records.map(\.lsn)
            cursor = next
        }
        XCTAssertEqual(lsns, Array(1...32).map(UInt64.init))
        XCTAssertEqual(try ledger.events(of: "r", after: 3, limit: 20)?.events.map(\.seq), Array(4...23).map(UInt64.init))
        let reopened = try RuntimeLedger(path: path, snapshotEvery: 0, segmentBytes: 700)
        XCTAssertEqual(reopened.recoveredFrom, .snapshot)
        XCTAssertEqual(try reopened.run("r")?.events, try ledger.run("r")?.events)
        XCTAssertEqual(try RuntimeLedger.verify(path: path).differences, [])
    }

    func testDamageInALaterSegmentNamesItAndRepairCutsThereKeepingBackups() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0, segmentBytes: 1000)
        try await fill(ledger, events: 40)
        let segments = LogSegments.list(path)
        let damaged = segments[2]
        var lines = try XCTUnwrap(FileManager.default.contents(atPath: damaged.path)).split(separator: 0x0A).map { Array($0) }
        lines[1][lines[1].count / 2] ^= 0x20
        try Data(lines.map { $0 + [0x0A] }.joined()).write(to: URL(fileURLWithPath: damaged.path))

        XCTAssertThrowsError(try RuntimeLedger(path: path, snapshotEvery: 0)) {
            let d = $0 as? LogFile.Damage
            XCTAssertEqual(d?.path, damaged.path)
            XCTAssertEqual(d?.line, 2, "the line within that segment")
        }
        let kept = try LogSegments.list(path).prefix(2).map { try LogFile.load(path: $0.path).count }.reduce(0, +) + 1
        let (repaired, backup) = try LogFile.repair(path: path)
        XCTAssertEqual(repaired, kept)
        XCTAssertTrue(backup?.hasPrefix(damaged.path + ".bak-") ?? false, backup ?? "no backup")
        XCTAssertEqual(LogSegments.list(path).count, 3, "later segments moved aside")
        XCTAssertTrue(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.hasPrefix((segments[3].path as NSString).lastPathComponent + ".bak-") })
        let reopened = try RuntimeLedger(path: path, snapshotEvery: 0, segmentBytes: 1000)
        XCTAssertEqual(reopened.runRecord("r")?.latestSeq, UInt64(kept - 1))
        try await fill(reopened, events: 5)
        XCTAssertEqual(try RuntimeLedger(path: path, snapshotEvery: 0).runRecord("r")?.latestSeq, UInt64(kept + 4))
    }

    func testATornTailIsCutInTheLastSegmentOnly() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0, segmentBytes: 1000)
        try await fill(ledger, events: 30)
        let segments = LogSegments.list(path)
        let last = try XCTUnwrap(segments.last)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: last.path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"crc":"0000"#.utf8))
        try handle.close()
        XCTAssertEqual(try RuntimeLedger(path: path, snapshotEvery: 0).runRecord("r")?.latestSeq, 31, "a torn final line is cut")

        // The same torn line inside an earlier segment is damage: records after it cannot follow.
        let middle = segments[1]
        let h2 = try XCTUnwrap(FileHandle(forWritingAtPath: middle.path))
        h2.seekToEndOfFile()
        h2.write(Data(#"{"crc":"0000"#.utf8))
        try h2.close()
        XCTAssertThrowsError(try RuntimeLedger(path: path, snapshotEvery: 0)) { XCTAssertNotNil($0 as? LogFile.Damage) }
    }
}
