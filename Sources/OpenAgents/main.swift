import ControlService
import Dispatch
import Foundation
import Generated
import HTTPServer
import PostgresClient
import RuntimeCore
import RuntimeService
import ServiceKit
import Synchronization

// `openagents`: the product's executable. Thin: argument parsing and wiring.

/// Write end of the signal pipe (set once before handlers are installed).
nonisolated(unsafe) var signalPipeWrite: Int32 = -1

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("openagents: \(message)\n".utf8))
    exit(1)
}

/// An exclusive lock on the data directory's event log for the life of the
/// process: two writers on one log would interleave their lsns. Nil when
/// another process holds it.
func lockDataDirectory(_ dir: String) -> Int32? {
    let fd = open(dir + "/serve.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return nil }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { close(fd); return nil }
    return fd
}

let args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first, !["-h", "--help", "help"].contains(command) else {
    print("usage: openagents serve [options]   (openagents serve --help)")
    exit(args.isEmpty ? 1 : 0)
}

switch command {
case "serve":
    // SIGTERM/SIGINT: an async-signal-safe handler writes the signal number to
    // a pipe; a thread reads it and shuts down gracefully (self-pipe trick).
    signal(SIGPIPE, SIG_IGN)
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { fail("pipe: \(systemError())") }
    signalPipeWrite = fds[1]
    for sig in [SIGTERM, SIGINT] {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { sig in
            var byte = UInt8(truncatingIfNeeded: sig)
            _ = write(signalPipeWrite, &byte, 1)
        }
        sigaction(sig, &action, nil)
    }
    let signalPipeRead = fds[0]
    let rest = Array(args.dropFirst())
    if rest.contains("--help") || rest.contains("-h") { print(ServiceConfig.help); exit(0) }
    let config: ServiceConfig
    do { config = try ServiceConfig.parse(rest, environment: ProcessInfo.processInfo.environment) } catch { fail("\(error)\n\n\(ServiceConfig.help)") }
    do { try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true) } catch { fail("cannot create data directory \(config.dataDirectory): \(error)") }
    let logger = Logger()
    // Graceful shutdown on SIGTERM / SIGINT: stop accepting, finish in-flight work, exit 0.
    // The waiter runs from the start, so a signal during a long log recovery ends the
    // process at once (nothing is serving or acknowledged yet) instead of being ignored.
    let started = Mutex<[HTTPServer]>([])
    let waiter = Thread {
        var byte: UInt8 = 0
        while read(signalPipeRead, &byte, 1) < 0 && errno == EINTR {}
        logger.log(.info, "shutting down", ["signal": Int32(byte) == SIGTERM ? "SIGTERM" : "SIGINT"])
        let running = started.withLock { $0 }
        Task {
            for s in running { await s.shutdown(deadline: 10) }
            exit(0)
        }
    }
    waiter.start()
    func serverConfig(port: Int, name: String) -> ServerConfig {
        var s = ServerConfig()
        s.host = config.host
        s.port = port
        s.name = name
        s.limits.maxBodyBytes = config.maxBodyBytes
        return s
    }
    do {
        var core: RuntimeCore?
        var signature: RuntimeSignature?
        if config.startRuntime {
            guard lockDataDirectory(config.dataDirectory) != nil else { fail("another openagents process is serving \(config.dataDirectory)") }
            let runtime = try RuntimeCore(config: config)
            core = runtime
            if config.internalAuth {
                // With PostgreSQL the spent nonces are shared, so a token replayed against another instance is refused too.
                signature = RuntimeSignature(secret: try RuntimeSignature.loadSecret(environment: ProcessInfo.processInfo.environment, dataDirectory: config.dataDirectory),
                                             nonces: runtime.database)
            } else {
                logger.log(.warn, "RUNTIME_INTERNAL_AUTH=disabled: /internal/v1 requests are not authenticated")
            }
            if let problem = runtime.projector.loadProblem { logger.log(.warn, problem) }
            if let ledger = runtime.ledger {
                if let problem = ledger.snapshotProblem { logger.log(.warn, problem) }
                logger.log(.info, "event log recovered", ["path": config.eventLog, "runs": "\(ledger.runCount)", "workers": "\(ledger.workerCount)", "lsn": "\(ledger.recoveredLSN)",
                                                            "from": ledger.recoveredFrom.rawValue, "seconds": String(format: "%.2f", runtime.recoverySeconds)])
            }
            if let database = runtime.database {
                logger.log(.info, "runtime records in PostgreSQL", ["database": PostgresConfig.redacted(config.databaseURL ?? ""), "host": database.config.host,
                                                                    "db": database.config.database, "writers": "\(database.writers)"])
            }
        }
        // The runtime's router is built once: served on its port, and called in process by the
        // control service of this same `serve` unless --runtime-url / OA_RUNTIME_URL names another.
        var runtime: (router: Router, metrics: Metrics)?
        if config.startRuntime {
            let m = Metrics()
            runtime = (Services.runtimeRouter(config: config, metrics: m, core: core, signature: signature), m)
        }
        let local = (config.runtimeURLSetting ?? "").isEmpty ? runtime.map { RouterClient(router: $0.router, errors: ServiceError.rendering, metrics: $0.metrics) } : nil
        var control: (router: Router, metrics: Metrics)?
        if config.startControl {
            let env = ProcessInfo.processInfo.environment
            let metrics = Metrics()
            let mode = config.authorityWriteMode
            let database = try config.postgres(environment: env)
            if let database {
                let c = try PostgresConnection.connect(database)
                defer { c.close() }
                try PostgresSchema.migrate(c)
            }
            let service = try ControlService(dataDirectory: config.dataDirectory, runtimeURL: config.runtimeURL,
                                             runtimeSecret: try RuntimeSignature.loadSecret(environment: env, dataDirectory: config.dataDirectory),
                                             environment: env, metrics: metrics, logger: logger,
                                             writesFrozen: { mode == "rust_active" ? nil : "writes are frozen: RUNTIME_AUTHORITY_WRITE_MODE is \(mode)" },
                                             runtimeTimeout: Double(config.runtimeTimeoutMs) / 1000, runtimeRegistry: config.runtimeRegistryPath,
                                             localRuntime: local, database: database)
            control = (service.router, metrics)
            logger.log(.info, "control state recovered", ["path": service.handler.store.path, "records": "\(service.handler.store.recoveredRecords)",
                                                          "runtime": local != nil ? "in process" : config.runtimeURL ?? "not configured"])
        }
        for service in Services.served(config: config, core: core, signature: signature, control: control, runtime: runtime) {
            let server = HTTPServer(config: serverConfig(port: service.port, name: service.name), router: service.router, logger: logger,
                                    metrics: service.metrics, errors: service.name == "control" ? ControlErrors.rendering : ServiceError.rendering)
            try server.start()
            started.withLock { $0.append(server) }
        }
    } catch {
        fail("\(error)")
    }
    logger.log(.info, "serving", ["data_dir": config.dataDirectory, "runtime": config.startRuntime ? "\(config.host):\(config.runtimePort)" : "off", "control": config.startControl ? "\(config.host):\(config.controlPort)" : "off"])
    dispatchMain()
case "repair":
    let rest = Array(args.dropFirst())
    let verify = rest.contains("--verify")
    let config: ServiceConfig
    do { config = try ServiceConfig.parse(rest.filter { $0 != "--verify" }, environment: ProcessInfo.processInfo.environment) } catch { fail("\(error)") }
    if verify {
        do {
            let (source, differences) = try RuntimeLedger.verify(path: config.eventLog)
            if differences.isEmpty {
                print("\(config.eventLog): start-up from \(source == .snapshot ? "the snapshot and the log after it" : "the whole log") equals a full rebuild")
                exit(0)
            }
            for d in differences { print(d) }
            exit(1)
        } catch { fail("\(error)") }
    }
    do {
        let (kept, backup) = try LogFile.repair(path: config.eventLog)
        if let backup { print("kept \(kept) records of \(config.eventLog); backup at \(backup)") } else { print("\(config.eventLog) is intact (\(kept) records)") }
    } catch { fail("\(error)") }
case "compact":
    // Offline: removes closed log segments below every run's retention floor
    // (RUNTIME_STREAM_RETENTION_EVENTS), then writes a fresh snapshot.
    let config: ServiceConfig
    do { config = try ServiceConfig.parse(Array(args.dropFirst()), environment: ProcessInfo.processInfo.environment) } catch { fail("\(error)") }
    guard config.streamRetentionEvents > 0 else { fail("nothing to compact: RUNTIME_STREAM_RETENTION_EVENTS is 0, so every event stays resumable") }
    guard lockDataDirectory(config.dataDirectory) != nil else { fail("\(config.dataDirectory) is being served: stop the service first") }
    do {
        let ledger = try RuntimeLedger(path: config.eventLog, snapshotEvery: 0, segmentBytes: config.segmentBytes)
        let report = try ledger.compact(retention: config.streamRetentionEvents)
        try ledger.writeSnapshot()
        print("removed \(report.segments) segments (\(report.bytes) bytes, \(report.events) events below their retention floor) from \(config.eventLog)")
    } catch { fail("\(error)") }
    exit(0)
case "migrate", "import", "export":
    // PostgreSQL operations: the schema, and moving records between the embedded log and the database.
    let rest = Array(args.dropFirst())
    let statusOnly = rest.contains("--status")
    let config: ServiceConfig
    do { config = try ServiceConfig.parse(rest.filter { $0 != "--status" }, environment: ProcessInfo.processInfo.environment) } catch { fail("\(error)") }
    let pg: PostgresConfig
    do {
        guard let named = try config.postgres(environment: ProcessInfo.processInfo.environment) else { fail("\(command) needs --database-url URL (or RUNTIME_DATABASE_URL)") }
        pg = named
    } catch { fail("\(error)") }
    let url = config.databaseURL ?? ""
    do {
        switch command {
        case "migrate":
            let c = try PostgresConnection.connect(pg)
            defer { c.close() }
            if !statusOnly {
                let applied = try PostgresSchema.migrate(c)
                print(applied.isEmpty ? "the schema is current" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
            }
            for m in try PostgresSchema.status(c) { print("\(m.version)\t\(m.appliedAt.map { "applied \($0)" } ?? "pending")\t\(m.name)") }
        case "import":
            guard lockDataDirectory(config.dataDirectory) != nil else { fail("\(config.dataDirectory) is being served: stop the service first") }
            let r = try PostgresTransfer.importLog(config.eventLog, into: pg)
            print("imported \(r.records) records (\(r.runs) runs, \(r.workers) workers) from \(config.eventLog) into \(PostgresConfig.redacted(url))")
        default:
            try FileManager.default.createDirectory(atPath: config.dataDirectory, withIntermediateDirectories: true)
            guard lockDataDirectory(config.dataDirectory) != nil else { fail("\(config.dataDirectory) is being served: stop the service first") }
            let r = try PostgresTransfer.exportLog(from: pg, to: config.eventLog)
            print("exported \(r.records) records (\(r.runs) runs, \(r.workers) workers) from \(PostgresConfig.redacted(url)) into \(config.eventLog)")
        }
    } catch { fail("\(error)") }
    exit(0)
case "sign":
    // Mints one X-OA-RUNTIME-SIGNATURE token (nonces are single-use: one per request).
    var rest = Array(args.dropFirst())
    var values: [String: String] = [:]
    var serviceArgs: [String] = []
    while !rest.isEmpty {
        let flag = rest.removeFirst()
        guard ["--run-id", "--thread-id", "--user-id", "--guest-scope", "--ttl", "--data-dir"].contains(flag) else {
            fail("usage: openagents sign [--run-id R] [--thread-id T] [--user-id U] [--guest-scope G] [--ttl SECONDS] [--data-dir DIR]")
        }
        guard !rest.isEmpty else { fail("\(flag) needs a value") }
        let value = rest.removeFirst()
        if flag == "--data-dir" { serviceArgs += [flag, value] } else { values[flag] = value }
    }
    let config: ServiceConfig
    do { config = try ServiceConfig.parse(serviceArgs, environment: ProcessInfo.processInfo.environment) } catch { fail("\(error)") }
    guard let ttl = Int64(values["--ttl"] ?? "60"), ttl > 0 else { fail("--ttl must be a positive number of seconds") }
    do {
        let secret = try RuntimeSignature.loadSecret(environment: ProcessInfo.processInfo.environment, dataDirectory: config.dataDirectory)
        let claims = RuntimeSignature.claims(ttl: ttl, runID: values["--run-id"] ?? "", threadID: values["--thread-id"] ?? "",
                                             userID: values["--user-id"] ?? "", guestScope: values["--guest-scope"] ?? "")
        print(RuntimeSignature.sign(claims, secret: secret))
    } catch { fail("\(error)") }
case "token":
    // Mints a control session token or a Khala sync token with the keys `serve` uses.
    var rest = Array(args.dropFirst())
    let usage = "usage: openagents token session|sync --user-id U [--org-id O] [--device-id D] [--scopes a,b] [--ttl SECONDS] [--data-dir DIR]"
    guard let kind = rest.first, ["session", "sync"].contains(kind) else { fail(usage) }
    rest.removeFirst()
    var values: [String: String] = [:]
    var serviceArgs: [String] = []
    while !rest.isEmpty {
        let flag = rest.removeFirst()
        guard ["--user-id", "--org-id", "--device-id", "--scopes", "--ttl", "--data-dir"].contains(flag), !rest.isEmpty else { fail(usage) }
        let value = rest.removeFirst()
        if flag == "--data-dir" { serviceArgs += [flag, value] } else { values[flag] = value }
    }
    guard let user = values["--user-id"], !user.isEmpty else { fail("--user-id is required\n" + usage) }
    let config: ServiceConfig
    do { config = try ServiceConfig.parse(serviceArgs, environment: ProcessInfo.processInfo.environment) } catch { fail("\(error)") }
    let env = ProcessInfo.processInfo.environment
    do {
        if kind == "session" {
            guard let ttl = Int64(values["--ttl"] ?? "3600"), ttl > 0 else { fail("--ttl must be a positive number of seconds") }
            let tokens = SessionTokens(key: try SessionTokens.loadKey(environment: env, dataDirectory: config.dataDirectory))
            print(tokens.mint(userID: user, orgID: values["--org-id"] ?? "", deviceID: values["--device-id"] ?? "", ttl: ttl).token)
        } else {
            let sync = SyncTokens(key: try SyncTokens.loadKey(environment: env, dataDirectory: config.dataDirectory))
            var request = ControlV1.SyncTokenMintRequest()
            request.scopes = (values["--scopes"] ?? "").split(separator: ",").map(String.init)
            if let t = values["--ttl"] { guard let n = UInt32(t) else { fail("--ttl must be a number of seconds") }; request.ttlSeconds = n }
            let session = ControlSession(userID: user, sessionID: "cli_" + UUID().uuidString.lowercased(), orgID: values["--org-id"] ?? "",
                                         deviceID: values["--device-id"] ?? "", issuedAt: 0, expiresAt: 0)
            print(try sync.mint(request, session: session).token)
        }
    } catch { fail("\(error)") }
case "replay":
    let rest = Array(args.dropFirst())
    guard rest.count == 2, rest[0] == "validate" else { fail("usage: openagents replay validate FILE") }
    guard let data = FileManager.default.contents(atPath: rest[1]) else { fail("cannot read \(rest[1])") }
    switch ReplayValidator.validate([UInt8](data)) {
    case .success(let n): print("\(rest[1]): valid REPLAY.jsonl v1 (\(n) lines)")
    case .failure(let problem): fail("\(rest[1]) is not a valid REPLAY.jsonl v1: \(problem)")
    }
default:
    fail("unknown command \(command) (try: openagents serve --help)")
}
