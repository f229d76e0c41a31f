import APIRuntime
import Foundation
import Generated
import Glibc
import ProtoWire
import TestSupport
@testable import RuntimeCore
import XCTest

/// Bounded memory and snapshots: events are read back from the log, start-up
/// from a snapshot plus the log after it equals a full rebuild, and a
/// snapshot that is damaged or does not match its log is never trusted.
final class LedgerSnapshotTests: XCTestCase {
    var dir = ""
    var path: String { dir + "/runtime-events.jsonl" }
    var snapshot: String { path + ".snapshot" }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("snapshot-\(UUID().uuidString)").path
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Random writes of every kind: runs, keyed and unkeyed events, expected
    /// seqs (some wrong), cancels, finishes, workers, comms. Failures are part
    /// of the history too (they must leave nothing behind).
    func randomWrites(_ ledger: RuntimeLedger, count: Int, rng: inout some RandomNumberGenerator) async {
        let owner = try! WorkerOwner(userID: "u", guestScope: "")
        for i in 0..<count {
            let run = "run-\(Int.random(in: 0..<6, using: &rng))"
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: _ = try? await ledger.createRun(runID: run)
            case 1: _ = try? await ledger.cancel(runID: run, reason: "r\(i)")
            case 2:
                _ = try? await ledger.append(runID: run, eventType: "run.finished", payload: try? GoogleProtobuf.Value(jsonString: #"{"status":"succeeded"}"#))
            case 3:
                let w = "w\(Int.random(in: 0..<3, using: &rng))"
                if Bool.random(using: &rng) { _ = try? await ledger.registerWorker(id: w, owner: owner) } else { _ = try? await ledger.heartbeat(workerID: w, owner: owner) }
            case 4:
                var c = RuntimeV1.CommsDeliveryEventRequest()
                c.provider = "resend"
                c.eventId = "e\(Int.random(in: 0..<20, using: &rng))"
                c.deliveryState = "delivered"
                _ = try? await ledger.ingestComms(c)
            case 5:
                let latest = ledger.runRecord(run)?.latestSeq ?? 0
                _ = try? await ledger.append(runID: run, eventType: "text.delta", payload: nil, expectedPreviousSeq: Bool.random(using: &rng) ? latest : latest + 1)
            default:
                // Keys repeat on purpose: replays and conflicts.
                let key = "k\(Int.random(in: 0..<40, using: &rng))"
                _ = try? await ledger.append(runID: run, eventType: "tool", payload: try? GoogleProtobuf.Value(jsonString: "{\"n\":\(Int.random(in: 0..<2, using: &rng))}"), idempotencyKey: key)
            }
        }
    }

    /// Every run and worker as the public reads give them.
    struct Everything: Equatable {
        var runs: [RuntimeLedger.RunState] = []
        var workers: [RuntimeV1.RuntimeWorker] = []
        var workerEvents: [[RuntimeV1.RuntimeWorkerLogEvent]] = []
        static func == (a: Everything, b: Everything) -> Bool {
            a.runs.map(\.run) == b.runs.map(\.run) && a.runs.map(\.events) == b.runs.map(\.events) && a.workers == b.workers && a.workerEvents == b.workerEvents
        }
    }

    func everything(_ ledger: RuntimeLedger) throws -> Everything {
        var out = Everything()
        for id in ledger.runIDs { out.runs.append(try XCTUnwrap(ledger.run(id))) }
        for id in ledger.workerIDs {
            out.workers.append(try XCTUnwrap(ledger.worker(id)))
            out.workerEvents.append(try ledger.workerEvents(of: id, after: 0))
        }
        return out
    }

    func testStartUpFromASnapshotAndTheLogAfterItEqualsAFullRebuild() async throws {
        for seed in 1...12 {
            try? FileManager.default.removeItem(atPath: dir)
            var rng = SeededRandom(seed: UInt64(seed))
            let ledger = try RuntimeLedger(path: path, snapshotEvery: 0)
            await randomWrites(ledger, count: Int.random(in: 20..<200, using: &rng), rng: &rng)
            try ledger.writeSnapshot()
            await randomWrites(ledger, count: Int.random(in: 0..<100, using: &rng), rng: &rng)
            let expected = try everything(ledger)

            let reopened = try RuntimeLedger(path: path, snapshotEvery: 0)
            XCTAssertEqual(reopened.recoveredFrom, .snapshot, "seed \(seed)")
            XCTAssertNil(reopened.snapshotProblem, "seed \(seed)")
            XCTAssertEqual(try everything(reopened), expected, "seed \(seed)")
            let (source, differences) = try RuntimeLedger.verify(path: path)
            XCTAssertEqual(source, .snapshot)
            XCTAssertEqual(differences, [], "seed \(seed)")
            // And it keeps working from there: replays and new appends as before.
            try? FileManager.default.removeItem(atPath: snapshot)
            let rebuilt = try RuntimeLedger(path: path, snapshotEvery: 0)
            XCTAssertEqual(rebuilt.recoveredFrom, .log)
            XCTAssertEqual(try everything(rebuilt), expected, "seed \(seed)")
        }
    }

    func testADamagedSnapshotIsIgnoredAndStateRebuiltFromTheLog() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0)
        _ = try await ledger.createRun(runID: "r")
        for i in 0..<20 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil, idempotencyKey: "k\(i)") }
        try ledger.writeSnapshot()
        let expected = try everything(ledger)
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: snapshot))
        bytes[bytes.count / 2] ^= 0x55
        try bytes.write(to: URL(fileURLWithPath: snapshot))

        let reopened = try RuntimeLedger(path: path, snapshotEvery: 0)
        XCTAssertEqual(reopened.recoveredFrom, .log)
        XCTAssertTrue(reopened.snapshotProblem?.contains("checksum") ?? false, reopened.snapshotProblem ?? "no problem reported")
        XCTAssertEqual(try everything(reopened), expected)
    }

    func testAnIndexFileShorterThanItsSnapshotSaysMeansARebuild() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0)
        _ = try await ledger.createRun(runID: "r")
        for i in 0..<100 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil, idempotencyKey: "k\(i)") }
        try ledger.writeSnapshot()
        let expected = try everything(ledger)
        XCTAssertEqual(truncate(path + ".index", 0), 0)

        let reopened = try RuntimeLedger(path: path, snapshotEvery: 0)
        XCTAssertEqual(reopened.recoveredFrom, .log)
        XCTAssertTrue(reopened.snapshotProblem?.contains(".index holds 0 bytes") ?? false, reopened.snapshotProblem ?? "no problem reported")
        XCTAssertEqual(try everything(reopened), expected)
        let replay = try await reopened.append(runID: "r", eventType: "tool", payload: nil, idempotencyKey: "k3")
        XCTAssertTrue(replay.idempotentReplay, "keys are found again through the rebuilt index")
    }

    func testASnapshotFromBeforeTheIndexFileIsNotUsed() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0)
        _ = try await ledger.createRun(runID: "r")
        for _ in 0..<40 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil) }
        try ledger.writeSnapshot()
        let expected = try everything(ledger)
        var old = try XCTUnwrap(SnapshotFile.read(snapshot))
        old.format = 0
        try Data(SnapshotFile.encode(old)).write(to: URL(fileURLWithPath: snapshot))

        let reopened = try RuntimeLedger(path: path, snapshotEvery: 0)
        XCTAssertEqual(reopened.recoveredFrom, .log)
        XCTAssertTrue(reopened.snapshotProblem?.contains("predates the index file") ?? false, reopened.snapshotProblem ?? "no problem reported")
        XCTAssertEqual(try everything(reopened), expected)
    }

    func testARebuildRemovesTheSnapshotItCouldNotUseBeforeRewritingTheIndex() async throws {
        // Its blocks would name positions the rebuild overwrites: a crash mid-rebuild must not leave it to be trusted.
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0)
        _ = try await ledger.createRun(runID: "r")
        for _ in 0..<40 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil) }
        try ledger.writeSnapshot()
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: snapshot))
        bytes[bytes.count - 1] ^= 0x55
        try bytes.write(to: URL(fileURLWithPath: snapshot))
        _ = try RuntimeLedger(path: path, snapshotEvery: 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: snapshot))
    }

    func testASnapshotOfAnotherLogIsNotTrusted() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0)
        _ = try await ledger.createRun(runID: "r")
        for _ in 0..<5 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil) }
        try ledger.writeSnapshot()
        // Another log, its own history, with the first log's snapshot beside it.
        let other = dir + "/other/runtime-events.jsonl"
        let second = try RuntimeLedger(path: other, snapshotEvery: 0)
        _ = try await second.createRun(runID: "s")
        for _ in 0..<7 { _ = try await second.append(runID: "s", eventType: "tool", payload: try GoogleProtobuf.Value(jsonString: #"{"x":1}"#)) }
        let expected = try everything(second)
        try FileManager.default.copyItem(atPath: snapshot, toPath: other + ".snapshot")

        let reopened = try RuntimeLedger(path: other, snapshotEvery: 0)
        XCTAssertEqual(reopened.recoveredFrom, .log)
        XCTAssertNotNil(reopened.snapshotProblem)
        XCTAssertEqual(try everything(reopened), expected)
        XCTAssertEqual(reopened.runIDs, ["s"])
    }

    func testALogCutBelowItsSnapshotIsRebuiltNotPatched() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0)
        _ = try await ledger.createRun(runID: "r")
        for _ in 0..<10 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil) }
        try ledger.writeSnapshot()
        // What `repair` does to a damaged log: cut it at a line boundary below the snapshot.
        let lines = try XCTUnwrap(FileManager.default.contents(atPath: path)).split(separator: 0x0A, omittingEmptySubsequences: false)
        try Data(lines.prefix(6).joined(separator: [0x0A]) + [0x0A]).write(to: URL(fileURLWithPath: path))

        let reopened = try RuntimeLedger(path: path, snapshotEvery: 0)
        XCTAssertEqual(reopened.recoveredFrom, .log)
        XCTAssertEqual(reopened.runRecord("r")?.latestSeq, 5, "what the log holds, not what the snapshot said")
    }

    func testAnInterruptedSnapshotWriteLeavesTheOldSnapshotInUse() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0)
        _ = try await ledger.createRun(runID: "r")
        try ledger.writeSnapshot()
        for _ in 0..<5 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil) }
        // A crash mid-write leaves a partial temp file; the rename never happened.
        try Data("OASNAP01deadbeef\n\u{1}\u{2}".utf8).write(to: URL(fileURLWithPath: snapshot + ".tmp"))
        let expected = try everything(ledger)

        let reopened = try RuntimeLedger(path: path, snapshotEvery: 0)
        XCTAssertEqual(reopened.recoveredFrom, .snapshot)
        XCTAssertEqual(try everything(reopened), expected)
        XCTAssertEqual(reopened.runRecord("r")?.latestSeq, 6)
    }

    func testASnapshotIsWrittenInTheBackgroundEverySnapshotEveryRecords() async throws {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 30)
        _ = try await ledger.createRun(runID: "r")
        for _ in 0..<40 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil) }
        var covered: UInt64 = 0
        for _ in 0..<200 {
            covered = (try? SnapshotFile.read(snapshot))??.lsn ?? 0
            if covered >= 30 { break }
            usleep(10_000)
        }
        XCTAssertGreaterThanOrEqual(covered, 30)
        let reopened = try RuntimeLedger(path: path, snapshotEvery: 0)
        XCTAssertEqual(reopened.recoveredFrom, .snapshot)
        XCTAssertEqual(reopened.runRecord("r")?.latestSeq, 41)
    }

    func testOldEventsAreReadBackFromTheLogBeyondTheCache() async throws {
        let ledger = try RuntimeLedger(path: path, cacheRecords: 4, snapshotEvery: 0)
        _ = try await ledger.createRun(runID: "r")
        for i in 0..<50 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: try GoogleProtobuf.Value(jsonString: "{\"i\":\(i)}"), idempotencyKey: "k\(i)") }
        let events = try XCTUnwrap(ledger.run("r")).events
        XCTAssertEqual(events.map(\.seq), Array(1...51).map(UInt64.init))
        XCTAssertEqual(events.last?.payloadJson, try GoogleProtobuf.Value(jsonString: #"{"i":49}"#))
        // An idempotency key far outside the cache still replays its original event...
        let replay = try await ledger.append(runID: "r", eventType: "tool", payload: try GoogleProtobuf.Value(jsonString: #"{"i":3}"#), idempotencyKey: "k3")
        XCTAssertTrue(replay.idempotentReplay)
        XCTAssertEqual(replay.event.seq, 5)
        // ...and conflicts on different content.
        do {
            _ = try await ledger.append(runID: "r", eventType: "tool", payload: try GoogleProtobuf.Value(jsonString: #"{"i":4}"#), idempotencyKey: "k3")
            XCTFail("expected a conflict")
        } catch { XCTAssertEqual((error as? APIError)?.kind, .conflict) }
        // A page from the middle.
        XCTAssertEqual(try ledger.events(of: "r", after: 20, limit: 3)?.events.map(\.seq), [21, 22, 23])
    }
}
