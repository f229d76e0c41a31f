import APIRuntime
import PostgresClient

/// The PostgreSQL backend's schema as numbered migrations, declared once:
/// `serve` applies the missing ones at start-up and `openagents migrate`
/// shows and applies them, both under one advisory lock so instances starting
/// together apply each migration exactly once. A migration is never edited
/// after release; a change is a new one.
public enum PostgresSchema {
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        let sql: String
    }

    /// The advisory lock key migrations hold (`'oa.migrate'` as a stable number).
    static let migrationLock: Int64 = 0x6f61_6d69_6772

    public static let migrations: [Migration] = [
        Migration(version: 1, name: "runtime records, heads and indexes", sql: """
            CREATE TABLE runtime_records (
                lsn bigint PRIMARY KEY,        -- the writing transaction's xid8 << 20 | record index: rising in feed order
                line text NOT NULL             -- the record exactly as the embedded log writes its line (crc and JSON)
            );
            CREATE TABLE runtime_runs (
                run_id text PRIMARY KEY,
                last_seq bigint NOT NULL,      -- the row lock and this guard assign seqs: contiguous per run
                body text NOT NULL             -- the run record (proto JSON)
            );
            CREATE TABLE runtime_run_events (
                run_id text NOT NULL,
                seq bigint NOT NULL,
                idem_key text NOT NULL DEFAULT '',
                lsn bigint NOT NULL,
                PRIMARY KEY (run_id, seq)
            );
            CREATE UNIQUE INDEX runtime_run_events_key ON runtime_run_events (run_id, idem_key) WHERE idem_key <> '';
            CREATE TABLE runtime_workers (
                worker_id text PRIMARY KEY,
                owner_user text NOT NULL,
                owner_guest text NOT NULL,
                last_seq bigint NOT NULL,
                body text NOT NULL
            );
            CREATE INDEX runtime_workers_user ON runtime_workers (owner_user) WHERE owner_user <> '';
            CREATE INDEX runtime_workers_guest ON runtime_workers (owner_guest) WHERE owner_guest <> '';
            CREATE TABLE runtime_worker_events (
                worker_id text NOT NULL,
                seq bigint NOT NULL,
                lsn bigint NOT NULL,
                PRIMARY KEY (worker_id, seq)
            );
            CREATE TABLE runtime_comms (
                key text PRIMARY KEY,          -- provider::event_id
                body text NOT NULL
            );
            CREATE TABLE runtime_tool_calls (
                receipt_id text PRIMARY KEY,
                authorization_id text NOT NULL,
                cost_sats bigint NOT NULL,
                body text NOT NULL
            );
            CREATE INDEX runtime_tool_calls_authorization ON runtime_tool_calls (authorization_id) WHERE authorization_id <> '';
            -- A guard inside a pipelined transaction: a false condition aborts it (so its COMMIT rolls back) with SQLSTATE OA409.
            CREATE FUNCTION openagents_guard(ok boolean, message text) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN
                IF NOT ok THEN RAISE EXCEPTION USING ERRCODE = 'OA409', MESSAGE = message; END IF;
                RETURN true;
            END $$;
            """),
        Migration(version: 2, name: "request signature nonces shared by every instance", sql: """
            CREATE TABLE runtime_nonces (
                nonce text PRIMARY KEY,
                expires_at bigint NOT NULL     -- unix seconds; expired rows are swept
            );
            CREATE INDEX runtime_nonces_expiry ON runtime_nonces (expires_at);
            """),
        Migration(version: 3, name: "record logs: the control service's and Khala's durable state machines", sql: """
            CREATE TABLE openagents_records (
                log text NOT NULL,             -- which state machine (control, khala_topics)
                seq bigint NOT NULL,           -- dense per log: writers hold the log's advisory lock until they commit
                line text NOT NULL,            -- the record exactly as the embedded record log writes its line
                PRIMARY KEY (log, seq)
            );
            """),
        Migration(version: 4, name: "Khala's poll interval guard shared by every instance", sql: """
            CREATE TABLE khala_poll_guard (
                key text PRIMARY KEY,          -- consumer and topic
                last_ms bigint NOT NULL        -- wall-clock milliseconds of the last admitted poll
            );
            """),
        Migration(version: 5, name: "run and worker read models kept by one projector for every instance", sql: """
            CREATE TABLE runtime_projections (
                topic text PRIMARY KEY,        -- run:<id>:events or worker:<id>:lifecycle
                checkpoint text NOT NULL,      -- ProjectorCheckpoint (proto JSON)
                summary text NOT NULL,         -- ProjectionSummary without its hash (filled in when read)
                drift text NOT NULL DEFAULT '' -- the last DriftReport, '' when none
            );
            CREATE TABLE runtime_projector (
                id int PRIMARY KEY CHECK (id = 1),
                lsn bigint NOT NULL            -- the last feed record folded in, moved in the same transaction as the rows
            );
            INSERT INTO runtime_projector VALUES (1, 0);
            """),
    ]

    public struct Status: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var appliedAt: String?
    }

    /// Applies the missing migrations in order, each in its own transaction,
    /// under the migration lock; returns the versions it applied.
    @discardableResult
    public static func migrate(_ c: PostgresConnection) throws(PostgresError) -> [Int] {
        try c.simpleQuery("SELECT pg_advisory_lock(\(migrationLock))")
        defer { _ = try? c.simpleQuery("SELECT pg_advisory_unlock(\(migrationLock))") }
        try c.simpleQuery("""
            CREATE TABLE IF NOT EXISTS openagents_migrations (
                version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
            """)
        let applied = Set(try c.query("SELECT version FROM openagents_migrations").rows.compactMap { $0[0].flatMap { Int($0) } })
        var done: [Int] = []
        for m in migrations where !applied.contains(m.version) {
            do {
                try c.simpleQuery("BEGIN;\n" + m.sql + "\nINSERT INTO openagents_migrations (version, name) VALUES (\(m.version), '\(m.name.replacingOccurrences(of: "'", with: "''"))');\nCOMMIT;")
            } catch {
                _ = try? c.simpleQuery("ROLLBACK")
                throw error
            }
            done.append(m.version)
        }
        return done
    }

    /// Every migration this build knows, with when it was applied (nil: not yet).
    public static func status(_ c: PostgresConnection) throws(PostgresError) -> [Status] {
        let exists = try c.query("SELECT to_regclass('openagents_migrations') IS NOT NULL").rows.first?[0] == "t"
        var applied: [Int: String] = [:]
        if exists {
            for row in try c.query("SELECT version, applied_at::text FROM openagents_migrations").rows {
                if let v = row[0].flatMap({ Int($0) }) { applied[v] = row[1] ?? "" }
            }
        }
        return migrations.map { Status(version: $0.version, name: $0.name, appliedAt: applied[$0.version]) }
    }

    /// A database error as the API reports it: an outage is 503 (retry later), anything else 500.
    static func apiError(_ e: PostgresError, _ action: String) -> APIError {
        if e.connectionLost || e.sqlState == "57P03" || e.sqlState?.hasPrefix("08") == true {
            return APIError.unavailable("the database is unavailable (\(action)): \(e.message)")
        }
        return APIError.internalError("database error (\(action)): \(e)")
    }
}

/// PostgreSQL array literals for `unnest($n::type[])`: one statement text for
/// any number of rows, so it is prepared once.
enum PostgresArray {
    static func text(_ items: [String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            for b in item.utf8 {
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(b)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    static func int(_ items: [UInt64]) -> String { "{" + items.map(String.init).joined(separator: ",") + "}" }
}
