import APIRuntime
import Foundation
import Generated
import PostgresClient
@testable import RuntimeCore
import TestSupport
import XCTest

/// The read models of instances sharing one database: one projector for all
/// of them, the embedded projector's rules, and a takeover when it stops.
final class PostgresProjectionsTests: XCTestCase {
    var url = ""
    var stores: [PostgresStore] = []
    var projections: [PostgresProjections] = []

    override func setUpWithError() throws {
        do { url = try PostgresCluster.freshDatabase(prefix: "pgp").url } catch { throw XCTSkip("\(error)") }
    }
    override func tearDown() {
        for p in projections { p.stop() }
        for s in stores { s.close() }
        projections = []
        stores = []
    }

    func open() throws -> (PostgresStore, PostgresProjections) {
        let s = try PostgresStore(config: try PostgresConfig(url: url), poolSize: 4)
        let p = PostgresProjections(store: s, interval: 0.02, leaseInterval: 0.2)
        stores.append(s)
        projections.append(p)
        return (s, p)
    }

    func write(_ s: PostgresStore, runs: [String], events: Int) async throws {
        for run in runs {
            _ = try? await s.createRun(runID: run)
            for _ in 0..<events { _ = try await s.append(runID: run, eventType: "note", payload: nil) }
        }
    }

    func feed(_ s: PostgresStore) throws -> [RuntimeV1.RuntimeLogRecord] {
        var out: [RuntimeV1.RuntimeLogRecord] = []
        var cursor = ChangeCursor.start
        while true {
            let page = try s.changes(after: cursor, limit: 500)
            if page.records.isEmpty { return out }
            out += page.records
            cursor = page.next
        }
    }

    /// The feed folded from scratch by the embedded projector's rules: what every instance must answer.
    func expected(_ s: PostgresStore) throws -> Projector.State {
        var state = Projector.State()
        for r in try feed(s) { Projector.apply(r, to: &state, now: Date()) }
        return state
    }

    func waitUntil(_ seconds: Double, _ done: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !done(), Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
    }

    func testExactlyOneInstanceFoldsTheFeed() async throws {
        let (a, pa) = try open()
        let (b, pb) = try open()
        try await waitUntil(5) { pa.isHolder || pb.isHolder }
        try await write(a, runs: ["r1", "r2"], events: 20)
        try await write(b, runs: ["r3"], events: 20)
        XCTAssertEqual(try expected(a).checkpoints.count, 3)
        let records = try feed(a).count
        try await waitUntil(10) { (try? pb.checkpoint(topic: Projector.runTopic("r3")))??.lastSeq == 21 && (try? pa.checkpoint(topic: Projector.runTopic("r1")))??.lastSeq == 21 }
        let folded = [pa.folded.load(ordering: .relaxed), pb.folded.load(ordering: .relaxed)]
        XCTAssertEqual(folded.filter { $0 > 0 }.count, 1, "one instance folded, the other only read: \(folded)")
        XCTAssertEqual(folded.max(), records, "every record folded once")
        XCTAssertEqual([pa.isHolder, pb.isHolder].filter { $0 }.count, 1)
    }

    func testEveryInstanceAnswersTheReadModelsTheEmbeddedRulesGive() async throws {
        let (a, pa) = try open()
        let (b, pb) = try open()
        try await write(a, runs: ["x", "y"], events: 5)
        _ = try await b.append(runID: "x", eventType: "run.finished", payload: JSONValue.object(["status": JSONValue.string("succeeded")]))
        let owner = try WorkerOwner(userID: "u", guestScope: "")
        _ = try await a.registerWorker(id: "w", owner: owner)
        _ = try await b.heartbeat(workerID: "w", owner: owner)
        _ = try await a.setWorkerStatus(workerID: "w", owner: owner, status: .failed)
        let want = try expected(a)
        try await waitUntil(10) {
            want.checkpoints.allSatisfy { t, c in [pa, pb].allSatisfy { (try? $0.checkpoint(topic: t))??.lastSeq == c.lastSeq } }
        }
        for p in [pa, pb] {
            for (topic, c) in want.checkpoints { XCTAssertEqual(try p.checkpoint(topic: topic), c, topic) }
            for (id, s) in want.runSummaries { XCTAssertEqual(try p.runSummary(id), Projector.hashed(s), id) }
            XCTAssertEqual(try p.workerSummary("w"), want.workerSummaries["w"].map(Projector.hashed))
            XCTAssertTrue(p.isReady)
        }
        XCTAssertEqual(try pa.runSummary("x")?.status, "succeeded")
        XCTAssertEqual(try pb.workerSummary("w")?.status, "failed")
        XCTAssertNil(try pa.drift(topic: Projector.runTopic("x")), "a contiguous feed records no drift")
        XCTAssertNil(try pb.runSummary("nope"))
    }

    func testAnotherInstanceTakesOverWithinSecondsWhenTheHolderStops() async throws {
        let (a, pa) = try open()
        let (b, pb) = try open()
        try await waitUntil(5) { pa.isHolder || pb.isHolder }
        let (holder, other) = pa.isHolder ? (pa, pb) : (pb, pa)
        let writer = pa.isHolder ? b : a
        try await write(writer, runs: ["before"], events: 3)
        try await waitUntil(10) { (try? other.checkpoint(topic: Projector.runTopic("before")))??.lastSeq == 4 }
        holder.stop()
        let stoppedAt = Date()
        try await write(writer, runs: ["after"], events: 3)
        try await waitUntil(10) { (try? other.checkpoint(topic: Projector.runTopic("after")))??.lastSeq == 4 }
        let took = Date().timeIntervalSince(stoppedAt)
        XCTAssertEqual(try other.checkpoint(topic: Projector.runTopic("after"))?.lastSeq, 4)
        XCTAssertTrue(other.isHolder)
        XCTAssertLessThan(took, 5, "taken over within seconds")
        XCTAssertEqual(try other.runSummary("before")?.eventCount, 4, "the successor resumed from the shared cursor: nothing folded twice")
    }

    func testAnInstanceIsReadyOnlyWhenTheSharedModelsCoverWhatCameBeforeIt() async throws {
        // Records committed with no projector running at all.
        let plain = try PostgresStore(config: try PostgresConfig(url: url), poolSize: 2)
        stores.append(plain)
        try await write(plain, runs: ["old"], events: 500)
        let (_, p) = try open()
        try await waitUntil(20) { p.isReady }
        XCTAssertTrue(p.isReady)
        XCTAssertEqual(try p.checkpoint(topic: Projector.runTopic("old"))?.lastSeq, 501, "ready means the models already cover it")
    }
}
