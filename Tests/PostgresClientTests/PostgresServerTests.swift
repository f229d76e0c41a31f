import Foundation
import Synchronization
@testable import PostgresClient
import TestSupport
import XCTest

/// The client against a real PostgreSQL (a throwaway cluster started by the
/// tests): each authentication path, queries, pipelines, errors, LISTEN.
final class PostgresServerTests: XCTestCase {
    var cluster: PostgresCluster.Running!
    var table = ""

    override func setUpWithError() throws {
        do { cluster = try PostgresCluster.shared() } catch { throw XCTSkip("\(error)") }
        table = "t_" + UUID().uuidString.prefix(8).lowercased()
    }

    func socket() -> PostgresConfig {
        var c = PostgresConfig()
        c.host = cluster.socketDirectory
        c.port = cluster.port
        c.user = "postgres"
        c.database = "postgres"
        return c
    }

    func tcp(password: String? = PostgresCluster.password) -> PostgresConfig {
        var c = PostgresConfig()
        c.host = "127.0.0.1"
        c.port = cluster.port
        c.password = password
        return c
    }

    func testTrustOverTheUnixSocket() throws {
        let c = try PostgresConnection.connect(socket())
        defer { c.close() }
        XCTAssertEqual(try c.query("SELECT current_user AS u")["u"], "postgres")
        XCTAssertNotNil(c.parameters["server_version"])
        XCTAssertEqual(c.parameters["TimeZone"], "UTC")
        XCTAssertNotEqual(c.backendPID, 0)
    }

    func testSCRAMSHA256OverTCP() throws {
        let c = try PostgresConnection.connect(tcp())
        defer { c.close() }
        XCTAssertEqual(try c.query("SELECT 1 + 1 AS two")["two"], "2")
        let auth = try PostgresCluster.psql("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'postgres'")
        XCTAssertEqual(auth.trimmingCharacters(in: .whitespacesAndNewlines), "t", "the server stores a SCRAM verifier: the password path was SCRAM")
    }

    func testAWrongPasswordIsAnAuthenticationErrorWithItsSQLState() {
        XCTAssertThrowsError(try PostgresConnection.connect(tcp(password: "not-it"))) { e in
            let pe = e as? PostgresError
            XCTAssertEqual(pe?.kind, .authentication)
            XCTAssertEqual(pe?.sqlState, "28P01")
        }
    }

    func testNoPasswordForAPasswordMethodIsNamed() {
        XCTAssertThrowsError(try PostgresConnection.connect(tcp(password: nil))) { e in
            XCTAssertTrue("\(e)".contains("none is configured"), "\(e)")
        }
    }

    func testCleartextPasswordIsRefusedUnlessAllowed() throws {
        let role = "clear_" + UUID().uuidString.prefix(6).lowercased()
        try PostgresCluster.psql("CREATE ROLE \(role) LOGIN PASSWORD 'plain-pw'")
        let hba = cluster.directory + "/data/pg_hba.conf"
        let original = try String(contentsOfFile: hba, encoding: .utf8)
        try ("host all \(role) 127.0.0.1/32 password\n" + original).write(toFile: hba, atomically: false, encoding: .utf8)
        defer { try? original.write(toFile: hba, atomically: false, encoding: .utf8); _ = try? PostgresCluster.psql("SELECT pg_reload_conf()") }
        try PostgresCluster.psql("SELECT pg_reload_conf()")
        Thread.sleep(forTimeInterval: 0.3)
        var config = tcp(password: "plain-pw")
        config.user = role
        config.database = "postgres"
        XCTAssertThrowsError(try PostgresConnection.connect(config)) { e in XCTAssertTrue("\(e)".contains("cleartext"), "\(e)") }
        config.allowCleartextPassword = true
        let c = try PostgresConnection.connect(config)
        XCTAssertEqual(try c.query("SELECT current_user AS u")["u"], role)
        c.close()
    }

    func testParametersAndNullsRoundTripAsText() throws {
        let c = try PostgresConnection.connect(socket())
        defer { c.close() }
        let r = try c.query("SELECT $1::int8 + 1 AS n, $2::text AS t, $3::text IS NULL AS isnull, $4::jsonb->>'k' AS j", ["41", "héllo 'quoted'", nil, #"{"k":"v"}"#])
        XCTAssertEqual(r.columns, ["n", "t", "isnull", "j"])
        XCTAssertEqual(r.rows, [["42", "héllo 'quoted'", "t", "v"]])
        XCTAssertEqual(try c.query("SELECT NULL::text AS x").rows, [[nil]])
    }

    func testAStatementIsPreparedOncePerConnection() throws {
        let c = try PostgresConnection.connect(socket())
        defer { c.close() }
        for i in 0..<5 {
            // Described once when parsed; later runs still name their columns.
            let r = try c.query("SELECT $1::int AS v", [String(i)])
            XCTAssertEqual(r.columns, ["v"])
            XCTAssertEqual(r["v"], String(i))
        }
        let piped = try c.pipeline([PostgresQuery("SELECT $1::text AS w", ["a"]), PostgresQuery("SELECT $1::text AS w", ["b"])])
        XCTAssertEqual(try piped.map { try $0.get()["w"] }, ["a", "b"], "the same new statement twice in one pipeline")
        XCTAssertEqual(try c.query("SELECT count(*) AS n FROM pg_prepared_statements WHERE statement = 'SELECT $1::int AS v'")["n"], "1")
    }

    func testAPipelineAnswersEveryStatementInOrder() throws {
        let c = try PostgresConnection.connect(socket())
        defer { c.close() }
        try c.simpleQuery("CREATE TABLE \(table) (id int PRIMARY KEY, v text)")
        let results = try c.pipeline((1...50).map { PostgresQuery("INSERT INTO \(table) VALUES ($1, $2) RETURNING id", [String($0), "v\($0)"]) })
        XCTAssertEqual(try results.map { try $0.get()["id"] }, (1...50).map { String($0) })
        XCTAssertEqual(try c.query("SELECT count(*) AS n FROM \(table)")["n"], "50")
    }

    func testAnErrorInsideAPipelineFailsOnlyItsStatement() throws {
        let c = try PostgresConnection.connect(socket())
        defer { c.close() }
        try c.simpleQuery("CREATE TABLE \(table) (id int PRIMARY KEY)")
        let results = try c.pipeline([PostgresQuery("INSERT INTO \(table) VALUES (1)"), PostgresQuery("INSERT INTO \(table) VALUES (1)"),
                                      PostgresQuery("SELEKT 1"), PostgresQuery("INSERT INTO \(table) VALUES (2)")])
        XCTAssertNoThrow(try results[0].get())
        XCTAssertThrowsError(try results[1].get()) { XCTAssertEqual(($0 as? PostgresError)?.sqlState, "23505") }
        XCTAssertThrowsError(try results[2].get()) { XCTAssertEqual(($0 as? PostgresError)?.sqlState, "42601") }
        XCTAssertNoThrow(try results[3].get())
        XCTAssertEqual(try c.query("SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM \(table)")["ids"], "1,2", "the connection recovered after each error")
    }

    func testAnErrorInsideATransactionPipelineRollsTheGroupBack() throws {
        let c = try PostgresConnection.connect(socket())
        defer { c.close() }
        try c.simpleQuery("CREATE TABLE \(table) (id int PRIMARY KEY)")
        let results = try c.transaction([PostgresQuery("INSERT INTO \(table) VALUES (1)"), PostgresQuery("INSERT INTO \(table) VALUES (1)"),
                                         PostgresQuery("INSERT INTO \(table) VALUES (3)")])
        XCTAssertEqual(results.map { r -> PostgresError.Kind? in if case .failure(let e) = r { return e.kind }; return nil }, [.skipped, .server, .skipped])
        XCTAssertEqual(try c.query("SELECT count(*) AS n FROM \(table)")["n"], "0", "nothing of the group stayed")
        XCTAssertEqual(c.transactionStatus, UInt8(ascii: "I"))
        let ok = try c.transaction([PostgresQuery("INSERT INTO \(table) VALUES (1)"), PostgresQuery("INSERT INTO \(table) VALUES (2)")])
        XCTAssertTrue(ok.allSatisfy { (try? $0.get()) != nil })
        XCTAssertEqual(try c.query("SELECT count(*) AS n FROM \(table)")["n"], "2")
    }

    func testAServerErrorCarriesItsSQLStateAndConstraint() throws {
        let c = try PostgresConnection.connect(socket())
        defer { c.close() }
        try c.simpleQuery("CREATE TABLE \(table) (k text CONSTRAINT \(table)_key UNIQUE)")
        _ = try c.query("INSERT INTO \(table) VALUES ('a')")
        XCTAssertThrowsError(try c.query("INSERT INTO \(table) VALUES ('a')")) { e in
            let pe = e as? PostgresError
            XCTAssertEqual(pe?.kind, .server)
            XCTAssertTrue(pe?.isUniqueViolation ?? false)
            XCTAssertEqual(pe?.constraint, "\(table)_key")
            XCTAssertEqual(pe?.severity, "ERROR")
        }
        XCTAssertThrowsError(try c.simpleQuery("SELECT * FROM no_such_table_here")) { XCTAssertEqual(($0 as? PostgresError)?.sqlState, "42P01") }
    }

    func testListenDeliversNotificationsFromAnotherConnection() throws {
        let listener = try PostgresConnection.connect(socket())
        let sender = try PostgresConnection.connect(socket())
        defer { listener.close(); sender.close() }
        let channel = "ch_" + table
        try listener.listen(channel)
        _ = try sender.query("SELECT pg_notify($1, $2)", [channel, "run:r1:7"])
        let got = try listener.notifications(timeout: 5)
        XCTAssertEqual(got.map(\.payload), ["run:r1:7"])
        XCTAssertEqual(got.first?.channel, channel)
        XCTAssertEqual(got.first?.pid, sender.backendPID)
        // One arriving while the listener runs a query is kept for later, not lost.
        _ = try sender.query("SELECT pg_notify($1, 'second')", [channel])
        Thread.sleep(forTimeInterval: 0.2)
        _ = try listener.query("SELECT 1")
        XCTAssertEqual(try listener.notifications(timeout: 1).map(\.payload), ["second"])
        XCTAssertEqual(try listener.notifications(timeout: 0.2), [], "nothing else came")
    }

    func testAQueryPastItsDeadlineIsATimeoutAndTheConnectionIsRetired() throws {
        var config = socket()
        config.queryTimeout = 0.3
        let c = try PostgresConnection.connect(config)
        defer { c.close() }
        XCTAssertThrowsError(try c.query("SELECT pg_sleep(3)")) { XCTAssertEqual(($0 as? PostgresError)?.kind, .timeout) }
        XCTAssertTrue(c.isBroken)
        XCTAssertThrowsError(try c.query("SELECT 1")) { XCTAssertEqual(($0 as? PostgresError)?.kind, .connection) }
    }

    func testAConnectionRefusedIsAConnectionError() {
        var config = tcp()
        config.port = 1
        config.connectTimeout = 1
        XCTAssertThrowsError(try PostgresConnection.connect(config)) { XCTAssertEqual(($0 as? PostgresError)?.kind, .connection) }
    }
}

/// The pool: a size limit, reuse, broken connections replaced, backoff after failures.
final class PostgresPoolTests: XCTestCase {
    var cluster: PostgresCluster.Running!

    override func setUpWithError() throws {
        do { cluster = try PostgresCluster.shared() } catch { throw XCTSkip("\(error)") }
    }

    func config() -> PostgresConfig {
        var c = PostgresConfig()
        c.host = cluster.socketDirectory
        c.port = cluster.port
        return c
    }

    func testThePoolNeverOpensMoreThanItsSize() throws {
        let pool = PostgresPool(config: config(), size: 3)
        defer { pool.close() }
        let pids = Mutex<Set<Int32>>([])
        DispatchQueue.concurrentPerform(iterations: 24) { _ in
            try? pool.withConnection { c in
                _ = try c.query("SELECT pg_sleep(0.02)")
                pids.withLock { _ = $0.insert(c.backendPID) }
            }
        }
        XCTAssertLessThanOrEqual(pids.withLock { $0.count }, 3)
        XCTAssertLessThanOrEqual(pool.openConnections, 3)
    }

    func testABrokenConnectionIsReplaced() throws {
        let pool = PostgresPool(config: config(), size: 1)
        defer { pool.close() }
        let first = try pool.withConnection { $0.backendPID }
        try PostgresCluster.psql("SELECT pg_terminate_backend(\(first))")
        Thread.sleep(forTimeInterval: 0.2)
        XCTAssertThrowsError(try pool.withConnection { try $0.query("SELECT 1") }, "the terminated backend's connection fails once")
        let second = try pool.withConnection { c -> Int32 in
            XCTAssertEqual(try c.query("SELECT 1 AS one")["one"], "1")
            return c.backendPID
        }
        XCTAssertNotEqual(first, second)
    }

    func testAnUnreachableServerFailsFastWhileBackingOff() {
        var c = config()
        c.host = "127.0.0.1"
        c.port = 1
        let pool = PostgresPool(config: c, size: 2, maxBackoff: 2)
        XCTAssertThrowsError(try pool.withConnection { _ in })
        let start = Date()
        XCTAssertThrowsError(try pool.withConnection { _ in }) { XCTAssertEqual(($0 as? PostgresError)?.kind, .connection) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 0.5, "answered at once with the last error, no connect storm")
    }
}

/// The LISTEN connection that stays up.
final class PostgresListenerTests: XCTestCase {
    func testTheListenerListensAgainAfterItsBackendIsTerminated() throws {
        let cluster: PostgresCluster.Running
        do { cluster = try PostgresCluster.shared() } catch { throw XCTSkip("\(error)") }
        var config = PostgresConfig()
        config.host = cluster.socketDirectory
        config.port = cluster.port
        let channel = "wake_" + UUID().uuidString.prefix(6).lowercased()
        let got = Mutex<[String]>([])
        let resumed = Atomic<Int>(0)
        let listener = PostgresListener(config: config, channels: [channel], resumed: { resumed.add(1, ordering: .relaxed) }) { n in
            got.withLock { $0.append(n.payload) }
        }
        listener.start()
        defer { listener.stop() }
        func until(_ what: String, _ ok: () -> Bool) {
            let deadline = Date().addingTimeInterval(10)
            while !ok() && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            XCTAssertTrue(ok(), what)
        }
        until("listening") { listener.isConnected }
        let sender = try PostgresConnection.connect(config)
        defer { sender.close() }
        _ = try sender.query("SELECT pg_notify($1, 'one')", [channel])
        until("the first notification") { got.withLock { $0 } == ["one"] }
        // Kill the listener's backend: it must come back and listen again by itself.
        try PostgresCluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%\(channel)%'")
        until("reconnected") { listener.reconnectCount == 1 && listener.isConnected }
        XCTAssertEqual(resumed.load(ordering: .relaxed), 1, "readers are told to catch up")
        _ = try sender.query("SELECT pg_notify($1, 'two')", [channel])
        until("a notification after the reconnect") { got.withLock { $0 } == ["one", "two"] }
    }
}
