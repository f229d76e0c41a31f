import APIRuntime
import ServiceKit
import Foundation
import Generated
import HTTPServer
@testable import RuntimeCore
@testable import RuntimeService
import XCTest

/// Worker lifecycle (reference-system.md 2.7, string user ids per DECISIONS.md):
/// one test per rule, against the ledger so every change is a durable log event.
final class WorkerTests: XCTestCase {
    var dir = ""
    var path: String { dir + "/runtime-events.jsonl" }
    override func setUp() { dir = FileManager.default.temporaryDirectory.appendingPathComponent("workers-\(UUID().uuidString)").path }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func user(_ id: String) -> WorkerOwner { try! WorkerOwner(userID: id, guestScope: "") }
    func status(_ body: () async throws -> Void) async -> Int? {
        do { try await body(); return nil } catch let e as APIError { return e.status } catch { return 0 }
    }
    func meta(_ json: String) -> GoogleProtobuf.Struct { try! GoogleProtobuf.Struct(jsonString: json) }

    func testOwnerIsExactlyOneOfUserOrGuestScope() {
        XCTAssertNoThrow(try WorkerOwner(userID: "u", guestScope: ""))
        XCTAssertNoThrow(try WorkerOwner(userID: "", guestScope: "g"))
        for (u, g) in [("", ""), ("u", "g"), ("  ", " ")] {
            XCTAssertThrowsError(try WorkerOwner(userID: u, guestScope: g)) { XCTAssertEqual(($0 as? APIError)?.status, 400) }
        }
    }

    func testRegisteringStartsARunningWorkerWithWorkerStarted() async throws {
        let ledger = try RuntimeLedger(path: path)
        let w = try await ledger.registerWorker(id: " w1 ", owner: user("u"))
        XCTAssertEqual(w.workerId, "w1")
        XCTAssertEqual(w.status, .running)
        XCTAssertEqual(w.latestSeq, 1)
        XCTAssertEqual(w.adapter, "in_memory")
        let generated = try await ledger.registerWorker(id: "", owner: user("u"))
        XCTAssertTrue(generated.workerId.hasPrefix("worker_"))
    }

    func testReregisteringWithTheSameOwnerReattaches() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.registerWorker(id: "w", owner: user("u"), workspaceRef: "a", metadata: meta(#"{"x":1,"y":1}"#))
        _ = try await ledger.setWorkerStatus(workerID: "w", owner: user("u"), status: .stopped)
        let w = try await ledger.registerWorker(id: "w", owner: user("u"), workspaceRef: "b", metadata: meta(#"{"y":2}"#))
        XCTAssertEqual(w.status, .running, "a stopped worker runs again")
        XCTAssertEqual(w.workspaceRef, "b")
        XCTAssertEqual(w.metadata, meta(#"{"x":1,"y":2}"#), "metadata is shallow-merged")
        XCTAssertEqual(w.latestSeq, 3)
        XCTAssertNil(w.stoppedAt)
    }

    func testAnotherOwnerIsForbiddenEverywhere() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.registerWorker(id: "w", owner: user("u"))
        let intruder = user("other")
        let register = await status { _ = try await ledger.registerWorker(id: "w", owner: intruder) }
        let heartbeat = await status { _ = try await ledger.heartbeat(workerID: "w", owner: intruder) }
        let change = await status { _ = try await ledger.setWorkerStatus(workerID: "w", owner: intruder, status: .stopped) }
        XCTAssertEqual(register, 403)
        XCTAssertEqual(heartbeat, 403)
        XCTAssertEqual(change, 403)
        let guest = await status { _ = try await ledger.heartbeat(workerID: "w", owner: try WorkerOwner(userID: "", guestScope: "u")) }
        XCTAssertEqual(guest, 403, "a guest scope never matches a user-owned worker")
        let missing = await status { _ = try await ledger.heartbeat(workerID: "nope", owner: intruder) }
        XCTAssertEqual(missing, 404)
    }

    func testListingIsByOwnerSortedById() async throws {
        let ledger = try RuntimeLedger(path: path)
        for id in ["c", "a", "b"] { _ = try await ledger.registerWorker(id: id, owner: user("u")) }
        _ = try await ledger.registerWorker(id: "z", owner: try WorkerOwner(userID: "", guestScope: "g"))
        XCTAssertEqual(ledger.workers(ownedBy: user("u")).map(\.workerId), ["a", "b", "c"])
        XCTAssertEqual(ledger.workers(ownedBy: try WorkerOwner(userID: "", guestScope: "g")).map(\.workerId), ["z"])
    }

    func testHeartbeatMergesMetadataAndRefreshesLiveness() async throws {
        let ledger = try RuntimeLedger(path: path)
        let registered = try await ledger.registerWorker(id: "w", owner: user("u"), metadata: meta(#"{"a":1}"#))
        XCTAssertEqual(WorkerRules.liveness(registered).heartbeatState, "missing")
        let w = try await ledger.heartbeat(workerID: "w", owner: user("u"), metadataPatch: meta(#"{"b":2}"#))
        XCTAssertEqual(w.metadata, meta(#"{"a":1,"b":2}"#))
        XCTAssertEqual(w.latestSeq, 2)
        XCTAssertEqual(WorkerRules.liveness(w).heartbeatState, "fresh")
        XCTAssertEqual(WorkerRules.liveness(w, now: Date().addingTimeInterval(121)).heartbeatState, "stale")
    }

    func testLivenessOfAStoppedOrFailedWorkerNamesItsStatus() {
        var w = RuntimeV1.RuntimeWorker()
        w.status = .stopped
        XCTAssertEqual(WorkerRules.liveness(w).heartbeatState, "stopped")
        w.status = .failed
        XCTAssertEqual(WorkerRules.liveness(w).heartbeatState, "failed")
        XCTAssertEqual(WorkerRules.liveness(w).heartbeatStaleAfterMs, 120_000)
    }

    func testStatusTransitionTable() {
        let allowed: Set<String> = ["starting>running", "starting>stopping", "starting>failed", "running>stopping", "running>stopped", "running>failed",
                                    "stopping>stopped", "stopping>failed", "stopped>starting", "stopped>running", "failed>starting", "failed>running"]
        for (from, f) in WorkerRules.names {
            for (to, t) in WorkerRules.names {
                XCTAssertEqual(WorkerRules.isAllowed(from: f, to: t), from == to || allowed.contains("\(from)>\(to)"), "\(from) -> \(to)")
            }
        }
    }

    func testAnInvalidTransitionIs400AndChangesNothing() async throws {
        let ledger = try RuntimeLedger(path: path)
        _ = try await ledger.registerWorker(id: "w", owner: user("u"))
        _ = try await ledger.setWorkerStatus(workerID: "w", owner: user("u"), status: .stopped, reason: "done")
        let bad = await status { _ = try await ledger.setWorkerStatus(workerID: "w", owner: user("u"), status: .stopping) }
        XCTAssertEqual(bad, 400)
        XCTAssertEqual(ledger.worker("w")?.latestSeq, 2)
        XCTAssertNotNil(ledger.worker("w")?.stoppedAt)
    }

    func testWorkersAndTheirEventsSurviveARestart() async throws {
        do {
            let ledger = try RuntimeLedger(path: path)
            _ = try await ledger.registerWorker(id: "w", owner: user("u"), metadata: meta(#"{"a":1}"#))
            _ = try await ledger.heartbeat(workerID: "w", owner: user("u"))
            _ = try await ledger.setWorkerStatus(workerID: "w", owner: user("u"), status: .stopping)
        }
        let records = try LogFile.load(path: path)
        XCTAssertEqual(records.compactMap { if case .workerEvent(let e)? = $0.entry { return e.eventType } else { return nil } },
                       ["worker.started", "worker.heartbeat", "worker.stopping"])
        let reopened = try RuntimeLedger(path: path)
        let w = try XCTUnwrap(reopened.worker("w"))
        XCTAssertEqual(w.status, .stopping)
        XCTAssertEqual(w.latestSeq, 3)
        XCTAssertNotNil(w.lastHeartbeatAt)
        let next = try await reopened.setWorkerStatus(workerID: "w", owner: user("u"), status: .stopped)
        XCTAssertEqual(next.latestSeq, 4, "sequences continue after a restart")
    }
}
