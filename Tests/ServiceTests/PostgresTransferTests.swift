import APIRuntime
import Foundation
import Generated
import PostgresClient
@testable import RuntimeCore
import TestSupport
import XCTest

/// `openagents import` / `export`: an embedded data directory moved into
/// PostgreSQL and back loses nothing; receipts and replays are byte-identical.
final class PostgresTransferTests: XCTestCase {
    var dir = ""
    var url = ""

    override func setUpWithError() throws {
        do { url = try PostgresCluster.freshDatabase(prefix: "move").url } catch { throw XCTSkip("\(error)") }
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("move-\(UUID().uuidString)").path
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// An embedded log with every record kind.
    func seed(_ path: String) async throws -> RuntimeLedger {
        let ledger = try RuntimeLedger(path: path, snapshotEvery: 0)
        for r in 0..<3 {
            _ = try await ledger.createRun(runID: "run\(r)", threadID: "t", owner: .init(userID: "u"))
            for i in 0..<5 { _ = try await ledger.append(runID: "run\(r)", eventType: "tool", payload: JSONValue.object(["tool": JSONValue.string("t"), "i": JSONValue.string("\(i)")]), idempotencyKey: "k\(i)") }
        }
        _ = try await ledger.append(runID: "run0", eventType: "run.finished", payload: JSONValue.object(["status": JSONValue.string("succeeded")]))
        _ = try await ledger.cancel(runID: "run1", reason: "enough")
        let owner = try WorkerOwner(userID: "u", guestScope: "")
        _ = try await ledger.registerWorker(id: "w", owner: owner)
        _ = try await ledger.heartbeat(workerID: "w", owner: owner)
        var comms = RuntimeV1.CommsDeliveryEventRequest()
        comms.provider = "resend"
        comms.eventId = "e1"
        _ = try await ledger.ingestComms(comms)
        var call = RuntimeV1.ToolExecutionRecord()
        call.receiptId = "rcpt"
        call.authorizationId = "auth"
        call.costSats = 7
        _ = try await ledger.recordToolCall(call)
        return ledger
    }

    func artifacts(_ store: any RuntimeStore, _ id: String) throws -> ([UInt8], [UInt8]) {
        let state = try XCTUnwrap(try store.run(id))
        return (try Artifacts.receipt(run: state.run, events: state.events).1, try Artifacts.replay(run: state.run, events: state.events))
    }

    func testAnEmbeddedLogMovesIntoPostgreSQLAndBackWithIdenticalReceiptsAndReplays() async throws {
        let original = try await seed(dir + "/a/runtime-events.jsonl")
        let report = try PostgresTransfer.importLog(dir + "/a/runtime-events.jsonl", into: try PostgresConfig(url: url))
        XCTAssertEqual(report, .init(records: try original.changes(after: .start, limit: 1000).records.count, runs: 3, workers: 1))
        let pg = try PostgresStore(config: try PostgresConfig(url: url), poolSize: 1)
        defer { pg.close() }
        for id in ["run0", "run1", "run2"] {
            XCTAssertEqual(try pg.run(id)?.events, try original.run(id)?.events)
            XCTAssertEqual(try pg.runRecord(id), original.runRecord(id))
            let (a, b) = (try artifacts(original, id), try artifacts(pg, id))
            XCTAssertEqual(a.0, b.0, "receipt of \(id)")
            XCTAssertEqual(a.1, b.1, "replay of \(id)")
        }
        XCTAssertEqual(try pg.worker("w"), original.worker("w"))
        XCTAssertEqual(try pg.workerEvents(of: "w", after: 0, limit: 10), try original.workerEvents(of: "w", after: 0, limit: 10))
        XCTAssertEqual(try pg.budgetSpent(authorizationID: "auth"), 7)
        // Keys came along: a retry through PostgreSQL is a replay.
        let retry = try await pg.append(runID: "run2", eventType: "tool", payload: JSONValue.object(["tool": JSONValue.string("t"), "i": JSONValue.string("3")]), idempotencyKey: "k3")
        XCTAssertTrue(retry.idempotentReplay)

        let back = dir + "/b/runtime-events.jsonl"
        let exported = try PostgresTransfer.exportLog(from: try PostgresConfig(url: url), to: back)
        XCTAssertEqual(exported.records, report.records)
        let reopened = try RuntimeLedger(path: back, snapshotEvery: 0)
        for id in ["run0", "run1", "run2"] {
            XCTAssertEqual(try reopened.run(id)?.events, try original.run(id)?.events)
            XCTAssertEqual(try artifacts(reopened, id).0, try artifacts(original, id).0)
            XCTAssertEqual(try artifacts(reopened, id).1, try artifacts(original, id).1)
        }
        XCTAssertEqual(reopened.worker("w"), original.worker("w"))
        XCTAssertEqual(reopened.toolCall(receiptID: "rcpt"), original.toolCall(receiptID: "rcpt"))
    }

    func testImportRefusesADatabaseThatAlreadyHoldsRecords() async throws {
        _ = try await seed(dir + "/a/runtime-events.jsonl")
        _ = try PostgresTransfer.importLog(dir + "/a/runtime-events.jsonl", into: try PostgresConfig(url: url))
        XCTAssertThrowsError(try PostgresTransfer.importLog(dir + "/a/runtime-events.jsonl", into: try PostgresConfig(url: url))) {
            XCTAssertEqual(($0 as? APIError)?.kind, .conflict)
        }
    }

    /// The commands a user runs: migrate shows the schema, import moves a stopped data directory in.
    func testTheMigrateAndImportCommands() async throws {
        try XCTSkipUnless(ServeProcess.isBuilt, "openagents binary not built next to the tests")
        let ledger = try await seed(dir + "/runtime-events.jsonl")
        _ = ledger
        let (status, text) = try ServeProcess.run(ServeProcess.binary, ["migrate", "--database-url", url])
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("1\tapplied"), text)
        XCTAssertTrue(text.contains("2\tapplied"), text)
        let (imported, output) = try ServeProcess.run(ServeProcess.binary, ["import", "--database-url", url, "--data-dir", dir])
        XCTAssertEqual(imported, 0, output)
        XCTAssertTrue(output.contains("(3 runs, 1 workers)"), output)
    }
}
