import APIRuntime
import ServiceKit
import Foundation
import Generated
import HTTPServer
import ProtoWire
@testable import RuntimeCore
@testable import RuntimeService
import XCTest

/// The event log and runs: sequencing, idempotency, ordering checks, group
/// commit under concurrency, and recovery from the file alone.
final class RuntimeLedgerTests: XCTestCase {
    var dir = ""
    var path: String { dir + "/runtime-events.jsonl" }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)").path
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func payload(_ json: String) -> GoogleProtobuf.Value { try! GoogleProtobuf.Value(jsonString: json) }

    func code(_ body: () async throws -> Void) async -> (Int, String)? {
        do { try await body(); return nil } catch let e as APIError { return (e.status, e.code) } catch { return (0, "\(error)") }
    }

    func testCreatingARunAppendsRunStartedAtSeqOne() async throws {
        let ledger = try RuntimeLedger(path: path)
        let created = try await ledger.createRun(runID: "r1")
        XCTAssertEqual(created.run.status, .running)
        XCTAssertEqual(created.run.latestSeq, 1)
        XCTAssertEqual(created.event.eventType, "run.started")
        let again = await code { _ = try await ledger.createRun(runID: "r1") }
        XCTAssertEqual(again?.0, 409)
    }

    func testSequencesArePerRunContiguousFromOne() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.createRun(runID: "a")
        _ = try await ledger.createRun(runID: "b")
        for _ in 0..<3 { _ = try await ledger.append(runID: "a", eventType: "text.delta", payload: payload(#"{"delta":"x"}"#)) }
        let b = try await ledger.append(runID: "b", eventType: "text.delta", payload: nil)
        XCTAssertEqual(try ledger.run("a")?.events.map(\.seq), [1, 2, 3, 4])
        XCTAssertEqual(b.event.seq, 2)
    }

    func testSameIdempotencyKeyAndContentReplaysTheOriginal() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.createRun(runID: "r")
        let first = try await ledger.append(runID: "r", eventType: "tool", payload: payload(#"{"a":1}"#), idempotencyKey: "k")
        let second = try await ledger.append(runID: "r", eventType: "tool", payload: payload(#"{"a":1}"#), idempotencyKey: " k ")
        XCTAssertFalse(first.idempotentReplay)
        XCTAssertTrue(second.idempotentReplay)
        XCTAssertEqual(second.event, first.event)
        XCTAssertEqual(try ledger.run("r")?.events.count, 2)
    }

    func testSameIdempotencyKeyWithDifferentContentConflicts() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.createRun(runID: "r")
        _ = try await ledger.append(runID: "r", eventType: "tool", payload: payload(#"{"a":1}"#), idempotencyKey: "k")
        let r = await code { _ = try await ledger.append(runID: "r", eventType: "tool", payload: self.payload(#"{"a":2}"#), idempotencyKey: "k") }
        XCTAssertEqual(r?.0, 409)
    }

    func testIdempotencyIsCheckedBeforeExpectedPreviousSeq() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.createRun(runID: "r")
        _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil, idempotencyKey: "k", expectedPreviousSeq: 1)
        let replay = try await ledger.append(runID: "r", eventType: "tool", payload: nil, idempotencyKey: "k", expectedPreviousSeq: 1)
        XCTAssertTrue(replay.idempotentReplay, "a replay wins even with a stale expected_previous_seq")
    }

    func testExpectedPreviousSeqMismatchIs409WithTheActualSeq() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.createRun(runID: "r")
        do {
            _ = try await ledger.append(runID: "r", eventType: "x", payload: nil, expectedPreviousSeq: 5)
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.status, 409)
            XCTAssertEqual(error.message, "expected_previous_seq 5 does not match actual previous seq 1")
            let body = String(decoding: { if case .bytes(let b) = error.response.body { return b }; return [] }(), as: UTF8.self)
            XCTAssertTrue(body.contains(#""actual_previous_seq":1"#), body)
        }
    }

    func testInvalidTransitionIs409NamingIt() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.createRun(runID: "r")
        _ = try await ledger.append(runID: "r", eventType: "run.finished", payload: payload(#"{"status":"succeeded"}"#))
        do {
            _ = try await ledger.append(runID: "r", eventType: "run.cancel_requested", payload: nil)
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.status, 409)
            XCTAssertEqual(error.message, "invalid run transition request_cancel from succeeded")
        }
        let missing = await code { _ = try await ledger.append(runID: "r", eventType: "run.finished", payload: nil) }
        XCTAssertEqual(missing?.0, 400)
        let unknown = await code { _ = try await ledger.append(runID: "nope", eventType: "x", payload: nil) }
        XCTAssertEqual(unknown?.0, 404)
    }

    func testSixteenConcurrentAppendsWithOneKeyYieldOneEvent() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.createRun(runID: "r")
        let seqs = await withTaskGroup(of: UInt64?.self) { group in
            for _ in 0..<16 { group.addTask { try? await ledger.append(runID: "r", eventType: "tool", payload: nil, idempotencyKey: "same").event.seq } }
            var out: [UInt64?] = []
            for await s in group { out.append(s) }
            return out
        }
        XCTAssertEqual(Set(seqs.compactMap { $0 }), [2])
        XCTAssertEqual(try ledger.run("r")?.events.count, 2)
    }

    func testConcurrentUniqueAppendsStayContiguous() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.createRun(runID: "r")
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<200 { group.addTask { _ = try? await ledger.append(runID: "r", eventType: "e", payload: nil, idempotencyKey: "k\(i)") } }
        }
        XCTAssertEqual(try ledger.run("r")?.events.map(\.seq), Array(1...201).map(UInt64.init))
    }

    func testRunsAndEventsSurviveARestart() async throws {
        do {
            let ledger = try RuntimeLedger(path: path)
            _ = try await ledger.createRun(runID: "r", threadID: "t")
            _ = try await ledger.append(runID: "r", eventType: "tool", payload: payload(#"{"a":[1,"x"]}"#), idempotencyKey: "k")
            _ = try await ledger.append(runID: "r", eventType: "run.finished", payload: payload(#"{"status":"failed"}"#))
        }
        let reopened = try RuntimeLedger(path: path)
        let state = try XCTUnwrap(reopened.run("r"))
        XCTAssertEqual(state.run.status, .failed)
        XCTAssertEqual(state.run.threadId, "t")
        XCTAssertEqual(state.events.map(\.seq), [1, 2, 3])
        XCTAssertEqual(state.events[1].payloadJson, payload(#"{"a":[1,"x"]}"#))
        // The idempotency index is rebuilt too.
        let replay = try await reopened.append(runID: "r", eventType: "tool", payload: payload(#"{"a":[1,"x"]}"#), idempotencyKey: "k")
        XCTAssertTrue(replay.idempotentReplay)
    }

    func testATornFinalLineIsCutOff() async throws {
        do {
            let ledger = try RuntimeLedger(path: path)
            _ = try await ledger.createRun(runID: "r")
        }
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"sum\":\"0011223344556677\",\"record\":{\"lsn\":\"3\",\"runEv".utf8))
        try handle.close()
        let reopened = try RuntimeLedger(path: path)
        XCTAssertEqual(try reopened.run("r")?.run.latestSeq, 1)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), good, "the torn tail is truncated")
        _ = try await reopened.append(runID: "r", eventType: "x", payload: nil)
        XCTAssertEqual(try RuntimeLedger(path: path).run("r")?.run.latestSeq, 2)
    }

    func testDamageInTheMiddleStopsStartUpNamingTheLine() async throws {
        do {
            let ledger = try RuntimeLedger(path: path)
            _ = try await ledger.createRun(runID: "r")
            _ = try await ledger.append(runID: "r", eventType: "x", payload: nil)
        }
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1] = lines[1].replacingOccurrences(of: "run.started", with: "run.stXrted")
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RuntimeLedger(path: path)) { error in
            XCTAssertEqual((error as? LogFile.Damage)?.line, 2)
            XCTAssertTrue("\(error)".contains("damaged at line 2: checksum"), "\(error)")
        }
        let (kept, backup) = try LogFile.repair(path: path)
        XCTAssertEqual(kept, 1)
        XCTAssertNotNil(backup)
        XCTAssertEqual(try RuntimeLedger(path: path).run("r")?.run.status, .created, "only the run record before the damage remains")
    }

    func testEveryLineIsAChecksummedGeneratedRecord() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.createRun(runID: "r")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        for (i, line) in lines.enumerated() {
            let record = try LogFile.decode(Array(line.utf8)[...])
            XCTAssertEqual(record.lsn, UInt64(i + 1))
        }
    }

    func testLineChecksumIsCRC32OfTheRecordBytes() {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926, "the IEEE check value")
        XCTAssertEqual(CRC32.checksum([]), 0)
        var record = RuntimeV1.RuntimeLogRecord()
        record.lsn = 7
        let line = LogFile.line(for: record)
        let json = try! record.jsonBytes()
        XCTAssertEqual(String(decoding: line, as: UTF8.self), "{\"crc\":\"\(String(CRC32.checksum(json), radix: 16).leftPad(8))\",\"record\":\(String(decoding: json, as: UTF8.self))}\n")
    }

    func testDamageDeepInALargeLogNamesItsLine() async throws {
        // Large enough to be decoded in parallel chunks; the damage sits in the last chunk.
        var bytes: [UInt8] = []
        var r = RuntimeV1.RuntimeLogRecord()
        var run = RuntimeV1.RuntimeRun()
        run.runId = "r"
        r.lsn = 1
        r.entry = .runCreated(run)
        bytes += LogFile.line(for: r)
        for seq in 1...40_000 {
            var e = RuntimeV1.RuntimeRunEvent()
            e.runId = "r"
            e.seq = UInt64(seq)
            e.eventType = "x"
            r.lsn = UInt64(seq + 1)
            r.entry = .runEvent(e)
            var line = LogFile.line(for: r)
            if seq == 39_000 { line[line.count - 5] ^= 1 }
            bytes += line
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try LogFile.load(path: path)) { XCTAssertEqual(($0 as? LogFile.Damage)?.line, 39_001) }
    }
}
