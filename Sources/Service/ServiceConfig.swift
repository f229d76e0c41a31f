import Foundation

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
    /// RUNTIME_SYNC_EACH_APPEND=1: one fdatasync per append instead of per batch (benchmarks only).
    public var syncEachAppend = false

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
      -h, --help           this text

    Environment: OA_LOG_LEVEL=debug|info|warn|error (default info; per-request
    lines are logged at debug), RUNTIME_AUTHORITY_WRITE_MODE=rust_active|shadow_only|read_only,
    RUNTIME_EVENT_LOG_PATH (default <data dir>/runtime-events.jsonl),
    RUNTIME_CHECKPOINT_PATH (default <data dir>/projection-state.json).

    openagents repair [--data-dir DIR]   keep a backup of a damaged event log and
                                         truncate it at the first bad line
    openagents replay validate FILE      check a REPLAY.jsonl v1 file

    Try: curl -s http://127.0.0.1:4100/healthz
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
        c.syncEachAppend = env["RUNTIME_SYNC_EACH_APPEND"] == "1"
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
