import APIRuntime
import ControlService
import Foundation
import Generated
import PostgresClient
@testable import RuntimeCore
import TestSupport
import XCTest

/// The control service's (and Khala's) record log on PostgreSQL: several
/// instances share one state machine; each write is evaluated under the log's
/// lock against every record committed before it, wherever it was written.
final class PostgresRecordLogTests: XCTestCase {
    var config = PostgresConfig()

    override func setUpWithError() throws {
        do { config = try PostgresConfig(url: try PostgresCluster.freshDatabase(prefix: "logs").url) } catch { throw XCTSkip("\(error)") }
        let c = try PostgresConnection.connect(config)
        defer { c.close() }
        try PostgresSchema.migrate(c)
    }

    static func revoke(_ log: RecordLog<ControlState>, _ key: String) async throws {
        try await log.commit { (state: ControlState) throws(APIError) -> (records: [ControlV1.ControlLogRecord], answer: Bool) in
            var r = ControlV1.SessionRevoked()
            r.key = key
            return (state.records([.sessionRevoked(r)], at: RuntimeLedger.timestamp()), true)
        }
    }

    func testConcurrentWritesThroughTwoInstancesFormOneDenseLog() async throws {
        let a = try RecordLog<ControlState>(database: config, log: "control")
        let b = try RecordLog<ControlState>(database: config, log: "control")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<40 { group.addTask { try await Self.revoke(i % 2 == 0 ? a : b, "sid:s\(i)") } }
            try await group.waitForAll()
        }
        // Every write landed once, in one order both instances agree on (ControlState refuses an lsn that does not follow).
        let deadline = Date().addingTimeInterval(5)
        while (a.read { $0.lsn } < 40 || b.read { $0.lsn } < 40), Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        XCTAssertEqual(a.read { $0.lsn }, 40)
        XCTAssertEqual(b.read { $0.lsn }, 40)
        XCTAssertEqual(Set(a.read { Array($0.revocations.keys) }), Set(b.read { Array($0.revocations.keys) }))
        // A restart reads the same state back from the table.
        let c = try RecordLog<ControlState>(database: config, log: "control")
        XCTAssertEqual(c.recoveredRecords, 40)
        XCTAssertEqual(c.read { $0.revocations.count }, 40)
    }

    func testAWriteOnOneInstanceReachesTheOthersSubscribers() async throws {
        let a = try RecordLog<ControlState>(database: config, log: "control")
        let b = try RecordLog<ControlState>(database: config, log: "control")
        let seen = RecordBox()
        b.subscribe { records in seen.add(records.count) }
        try await Self.revoke(a, "user:u1")
        let deadline = Date().addingTimeInterval(3)
        while seen.count < 1, Date() < deadline { try await Task.sleep(nanoseconds: 5_000_000) }
        XCTAssertEqual(seen.count, 1)
        XCTAssertNotNil(b.read { $0.revocations["user:u1"] }, "a session revoked through A is revoked on B")
    }

    func testLogsOfDifferentServicesAreSeparate() async throws {
        let control = try RecordLog<ControlState>(database: config, log: "control")
        let other = try RecordLog<ControlState>(database: config, log: "other")
        try await Self.revoke(control, "sid:x")
        try await Task.sleep(nanoseconds: 200_000_000)
        XCTAssertEqual(other.read { $0.lsn }, 0)
    }
}

final class RecordBox: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add(_ k: Int) { lock.lock(); n += k; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
}
