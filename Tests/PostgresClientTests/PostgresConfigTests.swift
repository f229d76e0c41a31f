@testable import PostgresClient
import XCTest

/// Connection settings from one URL or the PG* variables.
final class PostgresConfigTests: XCTestCase {
    func testAURLGivesEverySetting() throws {
        let c = try PostgresConfig(url: "postgres://app:p%40ss@db.internal:6543/events?sslmode=disable&connect_timeout=3&application_name=rt")
        XCTAssertEqual(c.host, "db.internal")
        XCTAssertEqual(c.port, 6543)
        XCTAssertEqual(c.user, "app")
        XCTAssertEqual(c.password, "p@ss")
        XCTAssertEqual(c.database, "events")
        XCTAssertEqual(c.sslMode, .disable)
        XCTAssertEqual(c.connectTimeout, 3)
        XCTAssertEqual(c.applicationName, "rt")
    }

    func testAnUnknownParameterOrSSLModeIsNamed() {
        XCTAssertThrowsError(try PostgresConfig(url: "postgres://a@h/d?sslmode=sometimes")) { XCTAssertTrue("\($0)".contains("sslmode=sometimes")) }
        XCTAssertThrowsError(try PostgresConfig(url: "postgres://a@h/d?colour=blue")) { XCTAssertTrue("\($0)".contains("colour")) }
        XCTAssertThrowsError(try PostgresConfig(url: "mysql://a@h/d"))
    }

    func testThePGVariablesAreRead() throws {
        let c = try PostgresConfig(environment: ["PGHOST": "/run/pg", "PGPORT": "5433", "PGUSER": "u", "PGPASSWORD": "x", "PGSSLMODE": "require"])
        XCTAssertTrue(c.isUnixSocket)
        XCTAssertEqual(c.port, 5433)
        XCTAssertEqual(c.database, "u", "the database defaults to the user, as libpq's")
        XCTAssertEqual(c.sslMode, .require)
        XCTAssertThrowsError(try PostgresConfig(environment: ["PGPORT": "seventy"]))
    }

    func testSSLModeRequireIsAClearErrorBeforeAnyConnection() {
        var c = PostgresConfig()
        c.sslMode = .require
        c.port = 1
        XCTAssertThrowsError(try PostgresConnection.connect(c)) { e in
            XCTAssertEqual((e as? PostgresError)?.kind, .tlsRequired)
            XCTAssertTrue("\(e)".contains("TLS sidecar"))
        }
    }

    func testTheRedactedURLHidesThePassword() {
        XCTAssertEqual(PostgresConfig.redacted("postgres://app:secret@h:5432/d"), "postgres://app:***@h:5432/d")
    }
}
