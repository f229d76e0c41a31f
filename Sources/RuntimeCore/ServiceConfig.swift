import Foundation
import PostgresClient

/// Everything `serve` needs, with embedded defaults, each overridable by
/// flag (wins) or environment variable.
public struct ServiceConfig: Sendable {
    public var host = "127.0.0.1"
    public var runtimePort = 4100
    public var controlPort = 8080
    public var dataDirectory = "./.runtime-data"
    public var maxBodyBytes = 1 << 20
    public var authorityWriteMode = "rust_active"
    public var startRuntime = true
    public var startControl = true
    /// RUNTIME_EVENT_LOG_PATH, default <data dir>/runtime-events.jsonl.
    public var eventLogPath: String?
    public var eventLog: String { eventLogPath ?? dataDirectory + "/runtime-events.jsonl" }
    /// RUNTIME_CHECKPOINT_PATH, default <data dir>/projection-state.json.
    public var checkpointFilePath: String?
    public var checkpointPath: String { checkpointFilePath ?? dataDirectory + "/projection-state.json" }
    /// RUNTIME_INTERNAL_AUTH=disabled turns off X-OA-RUNTIME-SIGNATURE checks (benchmarks only).
    public var internalAuth = true
    /// RUNTIME_STREAM_RETENTION_EVENTS: how many of a run's latest events a stream can resume
    /// from (older cursors are 410 stale_cursor); 0 keeps every event resumable.
    public var streamRetentionEvents: UInt64 = 0
    /// Khala's topic classes, origin policy, poll rules and sync-token checks (RUNTIME_KHALA_*, RUNTIME_SYNC_*).
    public var khala = KhalaConfig()
    /// The sync-token key, when given directly (tests); else RUNTIME_SYNC_TOKEN_SIGNING_KEY or `<data dir>/sync-token.key`.
    public var syncTokenKey: [UInt8]?
    /// A runtime registry file (OA_RUNTIME_REGISTRY / --runtime-registry); nil: the built-in table.
    public var runtimeRegistryPath: String?
    /// RUNTIME_STREAM_HEARTBEAT_MS: keep-alive comment interval on idle streams.
    public var streamHeartbeatMs: UInt64 = 15_000
    /// RUNTIME_SYNC_EACH_APPEND=1: one fdatasync per append instead of per batch (benchmarks only).
    public var syncEachAppend = false
    /// RUNTIME_SNAPSHOT_EVERY_RECORDS: a ledger snapshot after this many records (0: never).
    public var snapshotEveryRecords = 100_000
    /// RUNTIME_EVENT_CACHE_RECORDS: how many recent log records stay decoded in memory.
    public var eventCacheRecords = 8192
    /// RUNTIME_SEGMENT_BYTES: the log starts a new segment file once the current one is this big.
    public var segmentBytes: UInt64 = 256 << 20
    /// --database-url / RUNTIME_DATABASE_URL: the runtime's records in PostgreSQL
    /// (shared by every instance) instead of the embedded log.
    public var databaseURL: String?
    /// The database `databaseURL` names (`env`: the standard `PG*` variables); nil: the embedded log.
    public func postgres(environment: [String: String]) throws -> PostgresConfig? {
        guard let url = databaseURL else { return nil }
        do { return url == "env" ? try PostgresConfig(environment: environment) : try PostgresConfig(url: url) } catch {
            throw ConfigError.bad("--database-url: \(error)")
        }
    }
    /// RUNTIME_DATABASE_POOL: reader connections per instance (the writers have their own).
    public var databasePool = 8
    /// RUNTIME_DATABASE_WRITERS: transactions in flight per instance (each takes every queued write as one
    /// batch). One by default: a second splits the queue into smaller batches that wait on each other's row locks.
    public var databaseWriters = 1
    /// --runtime-url / OA_RUNTIME_URL: where the control service reaches the runtime.
    public var runtimeURLSetting: String?
    /// OA_RUNTIME_TIMEOUT_MS: how long a proxied call may take before it is a 503.
    public var runtimeTimeoutMs = 5000
    /// The runtime the control service proxies to: the configured URL, else the
    /// runtime this same `serve` starts, else none (runtime-owned routes are 503).
    public var runtimeURL: String? {
        if let u = runtimeURLSetting, !u.isEmpty { return u }
        guard startRuntime else { return nil }
        let h = host == "0.0.0.0" || host.isEmpty ? "127.0.0.1" : host
        return "http://\(h):\(runtimePort)"
    }

    public static let help = """
    usage: openagents serve [options]

    Starts the runtime service and the control service on loopback with all
    state under a local data directory. Flags win over environment variables.

      --host ADDR          bind address            (OA_HOST, default 127.0.0.1)
      --runtime-port N     runtime service port    (OA_RUNTIME_PORT, default 4100)
      --control-port N     control service port    (OA_CONTROL_PORT, default 8080)
      --data-dir DIR       state directory         (OA_DATA_DIR, default ./.runtime-data)
      --max-body BYTES     request body limit      (OA_MAX_BODY_BYTES, default 1048576)
      --only runtime|control   start one service only
      --runtime-url URL    where control reaches the runtime (OA_RUNTIME_URL; default
                           the runtime this serve starts; none with --only control)
      --database-url URL   keep the runtime's records in PostgreSQL (RUNTIME_DATABASE_URL,
                           postgres://user:password@host:port/db?sslmode=disable, or the
                           PG* variables with URL "env"); several instances may share one
                           database. Default: the embedded log in the data directory
      -h, --help           this text

    Environment: OA_LOG_LEVEL=debug|info|warn|error (default info; per-request
    lines are logged at debug), RUNTIME_AUTHORITY_WRITE_MODE=rust_active|shadow_only|read_only,
    RUNTIME_EVENT_LOG_PATH (default <data dir>/runtime-events.jsonl),
    RUNTIME_CHECKPOINT_PATH (default <data dir>/projection-state.json),
    OA_RUNTIME_SIGNATURE_SECRET (default: created once in <data dir>/runtime-signature.secret),
    RUNTIME_INTERNAL_AUTH=enabled|disabled (default enabled; disabled is for benchmarks),
    RUNTIME_STREAM_RETENTION_EVENTS (default 0: every event resumable),
    RUNTIME_STREAM_HEARTBEAT_MS (default 15000),
    RUNTIME_SNAPSHOT_EVERY_RECORDS (default 100000; 0: no snapshots),
    RUNTIME_EVENT_CACHE_RECORDS (default 8192),
    RUNTIME_SEGMENT_BYTES (default 268435456: the log's segment file size),
    OA_CONTROL_SESSION_SECRET (default: created once in <data dir>/control-session.secret),
    OA_RUNTIME_TIMEOUT_MS (default 5000: a proxied runtime call's limit),
    RUNTIME_SYNC_TOKEN_SIGNING_KEY (default: created once in <data dir>/sync-token.key),
    RUNTIME_KHALA_* (topic classes, origin policy, poll rules), RUNTIME_SYNC_REVOKED_JTIS,
    OA_RUNTIME_REGISTRY or --runtime-registry FILE (default: the built-in runtime registry).

    Every /internal/v1 request needs an X-OA-RUNTIME-SIGNATURE token; mint one with
    openagents sign [--run-id R] [--thread-id T] [--user-id U] [--guest-scope G] [--ttl S]

    openagents repair [--data-dir DIR]   keep a backup of a damaged event log and
                                         truncate it at the first bad line
    openagents repair --verify [--data-dir DIR]
                                         rebuild from the whole log and compare
                                         with what the snapshot gives (exit 1 if not equal)
    openagents compact [--data-dir DIR]  on a stopped service: remove closed log
                                         segments holding only events below
                                         every run's retention floor
                                         (RUNTIME_STREAM_RETENTION_EVENTS)
    openagents migrate --database-url URL [--status]
                                         apply the PostgreSQL schema's missing
                                         migrations (serve applies them too), or list them
    openagents export --database-url URL [--data-dir DIR]
                                         copy PostgreSQL's records into an embedded log
    openagents import --database-url URL [--data-dir DIR]
                                         copy an embedded log into an empty PostgreSQL database
    openagents replay validate FILE      check a REPLAY.jsonl v1 file
    openagents sign [claims options]     print a signature token (one request each)
    openagents token session --user-id U [--org-id O] [--device-id D] [--ttl S]
                                         print a control session token
    openagents token sync --user-id U [--org-id O] [--scopes a,b] [--ttl S]
                                         print a Khala sync token

    Try: curl -s http://127.0.0.1:4100/healthz
         curl -s -H "authorization: Bearer $(openagents token session --user-id u1)" http://127.0.0.1:8080/api/v1/control/status
    """

    public enum ConfigError: Error, CustomStringConvertible {
        case bad(String)
        public var description: String { switch self { case .bad(let s): return s } }
    }

    public static func parse(_ args: [String], environment env: [String: String]) throws -> ServiceConfig {
        var c = ServiceConfig()
        func port(_ s: String, _ what: String) throws -> Int {
            guard let p = Int(s), (0...65535).contains(p) else { throw ConfigError.bad("\(what) must be a port number, got \"\(s)\"") }
            return p
        }
        if let v = env["OA_HOST"] { c.host = v }
        if let v = env["OA_RUNTIME_PORT"] { c.runtimePort = try port(v, "OA_RUNTIME_PORT") }
        if let v = env["OA_CONTROL_PORT"] { c.controlPort = try port(v, "OA_CONTROL_PORT") }
        if let v = env["OA_DATA_DIR"] { c.dataDirectory = v }
        if let v = env["OA_MAX_BODY_BYTES"] { guard let n = Int(v), n > 0 else { throw ConfigError.bad("OA_MAX_BODY_BYTES must be a positive number") }; c.maxBodyBytes = n }
        if let v = env["RUNTIME_EVENT_LOG_PATH"], !v.isEmpty { c.eventLogPath = v }
        if let v = env["RUNTIME_CHECKPOINT_PATH"], !v.isEmpty { c.checkpointFilePath = v }
        if let v = env["RUNTIME_INTERNAL_AUTH"] {
            guard ["enabled", "disabled"].contains(v) else { throw ConfigError.bad("RUNTIME_INTERNAL_AUTH must be enabled or disabled") }
            c.internalAuth = v == "enabled"
        }
        if let v = env["RUNTIME_STREAM_RETENTION_EVENTS"] {
            guard let n = UInt64(v) else { throw ConfigError.bad("RUNTIME_STREAM_RETENTION_EVENTS must be a whole number") }
            c.streamRetentionEvents = n
        }
        if let v = env["RUNTIME_STREAM_HEARTBEAT_MS"] {
            guard let n = UInt64(v), n > 0 else { throw ConfigError.bad("RUNTIME_STREAM_HEARTBEAT_MS must be a positive number") }
            c.streamHeartbeatMs = n
        }
        c.syncEachAppend = env["RUNTIME_SYNC_EACH_APPEND"] == "1"
        if let v = env["RUNTIME_SNAPSHOT_EVERY_RECORDS"] {
            guard let n = Int(v), n >= 0 else { throw ConfigError.bad("RUNTIME_SNAPSHOT_EVERY_RECORDS must be a whole number") }
            c.snapshotEveryRecords = n
        }
        if let v = env["RUNTIME_SEGMENT_BYTES"] {
            guard let n = UInt64(v), n >= 4096 else { throw ConfigError.bad("RUNTIME_SEGMENT_BYTES must be a whole number of at least 4096") }
            c.segmentBytes = n
        }
        if let v = env["RUNTIME_EVENT_CACHE_RECORDS"] {
            guard let n = Int(v), n >= 0 else { throw ConfigError.bad("RUNTIME_EVENT_CACHE_RECORDS must be a whole number") }
            c.eventCacheRecords = n
        }
        if let v = env["OA_RUNTIME_URL"], !v.isEmpty { c.runtimeURLSetting = v }
        if let v = env["RUNTIME_DATABASE_URL"], !v.isEmpty { c.databaseURL = v }
        if let v = env["RUNTIME_DATABASE_POOL"] {
            guard let n = Int(v), n > 0 else { throw ConfigError.bad("RUNTIME_DATABASE_POOL must be a positive number") }
            c.databasePool = n
        }
        if let v = env["RUNTIME_DATABASE_WRITERS"] {
            guard let n = Int(v), (1...16).contains(n) else { throw ConfigError.bad("RUNTIME_DATABASE_WRITERS must be 1 to 16") }
            c.databaseWriters = n
        }
        if let v = env["OA_RUNTIME_REGISTRY"], !v.isEmpty { c.runtimeRegistryPath = v }
        do { c.khala = try KhalaConfig(environment: env) } catch { throw ConfigError.bad(error.message) }
        if let v = env["OA_RUNTIME_TIMEOUT_MS"] {
            guard let n = Int(v), n > 0 else { throw ConfigError.bad("OA_RUNTIME_TIMEOUT_MS must be a positive number") }
            c.runtimeTimeoutMs = n
        }
        if let v = env["RUNTIME_AUTHORITY_WRITE_MODE"] {
            guard ["rust_active", "shadow_only", "read_only"].contains(v) else { throw ConfigError.bad("RUNTIME_AUTHORITY_WRITE_MODE must be rust_active, shadow_only or read_only") }
            c.authorityWriteMode = v
        }
        var i = 0
        func value() throws -> String {
            guard i + 1 < args.count else { throw ConfigError.bad("\(args[i]) needs a value") }
            i += 1
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--host": c.host = try value()
            case "--runtime-port": c.runtimePort = try port(try value(), "--runtime-port")
            case "--control-port": c.controlPort = try port(try value(), "--control-port")
            case "--data-dir": c.dataDirectory = try value()
            case "--runtime-url": c.runtimeURLSetting = try value()
            case "--runtime-registry": c.runtimeRegistryPath = try value()
            case "--database-url": c.databaseURL = try value()
            case "--max-body":
                let v = try value()
                guard let n = Int(v), n > 0 else { throw ConfigError.bad("--max-body must be a positive number") }
                c.maxBodyBytes = n
            case "--only":
                switch try value() {
                case "runtime": c.startControl = false
                case "control": c.startRuntime = false
                default: throw ConfigError.bad("--only takes runtime or control")
                }
            default: throw ConfigError.bad("unknown option \(args[i])")
            }
            i += 1
        }
        return c
    }
}
