import Foundation
@testable import PostgresClient
import TestSupport
import XCTest

/// A lease among processes: exactly one holder, and another takes over
/// within a few seconds when the holder goes.
final class PostgresLeaseTests: XCTestCase {
    func config() throws -> PostgresConfig {
        do { return try PostgresConfig(url: try PostgresCluster.freshDatabase(prefix: "lease").url) } catch { throw XCTSkip("\(error)") }
    }

    func waitUntil(_ seconds: Double, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition(), Date() < deadline { usleep(20_000) }
    }

    func testExactlyOneHolderAndATakeoverWhenItGoes() throws {
        let c = try config()
        let key = Int64.random(in: 1...Int64.max)
        let a = PostgresLease(config: c, key: key, interval: 0.2)
        let b = PostgresLease(config: c, key: key, interval: 0.2)
        waitUntil(3) { a.isHeld || b.isHeld }
        usleep(500_000)
        XCTAssertNotEqual(a.isHeld, b.isHeld, "exactly one holds it")
        let (holder, other) = a.isHeld ? (a, b) : (b, a)
        holder.stop()
        waitUntil(3) { other.isHeld }
        XCTAssertTrue(other.isHeld, "the other took over")
        other.stop()
    }

    func testAHolderWhoseSessionIsKilledLosesTheLease() throws {
        let c = try config()
        let key = Int64.random(in: 1...Int64.max)
        let a = PostgresLease(config: c, key: key, interval: 0.2)
        waitUntil(3) { a.isHeld }
        XCTAssertTrue(a.isHeld)
        let b = PostgresLease(config: c, key: key, interval: 0.2)
        // The holder's backend is terminated (as when its process dies or the network drops it).
        try PostgresCluster.psql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = \(UInt32(truncatingIfNeeded: key)) AND granted")
        waitUntil(3) { b.isHeld }
        XCTAssertTrue(b.isHeld, "B took over")
        waitUntil(2) { !a.isHeld }
        XCTAssertFalse(a.isHeld, "A knows it lost the lease")
        a.stop()
        b.stop()
    }
}
