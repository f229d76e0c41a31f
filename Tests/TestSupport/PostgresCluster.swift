import Foundation
import Glibc

/// A throwaway PostgreSQL cluster for the tests: initdb in a temporary
/// directory (as the `postgres` user when the tests run as root, since initdb
/// refuses root), the Unix socket trusted, TCP on loopback with SCRAM-SHA-256
/// and a known password, started once per test process and stopped at exit.
public enum PostgresCluster {
    public struct Unavailable: Error, CustomStringConvertible { public let description: String }

    public static let password = "pw-scram-7677"

    public struct Running: Sendable {
        public let directory: String
        public let socketDirectory: String
        public let port: Int
        public let bin: String
    }

    nonisolated(unsafe) static var started: Result<Running, Unavailable>?
    static let lock = NSLock()

    /// The cluster, started on first use.
    public static func shared() throws -> Running {
        lock.lock()
        defer { lock.unlock() }
        if let started { return try started.get() }
        let r: Result<Running, Unavailable>
        do { r = .success(try start()) } catch let e as Unavailable { r = .failure(e) } catch { r = .failure(Unavailable(description: "\(error)")) }
        started = r
        return try r.get()
    }

    static func binDirectory() -> String? {
        let base = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        return versions.map { "\(base)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/initdb") }
    }

    /// `detach`: the command starts a server that keeps running (pg_ctl start): its output goes
    /// to /dev/null, since the server would hold a pipe open and the read would never end.
    static func run(_ args: [String], asPostgres: Bool, detach: Bool = false) throws -> (Int32, String) {
        if detach {
            // posix_spawn and waitpid: Foundation's Process does not notice this child end
            // once it has started a daemon (the child stays a zombie and the wait never returns).
            let argv = asPostgres ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + args : args
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            for fd in [Int32(1), Int32(2)] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0) }
            var cargs = argv.map { strdup($0) } + [nil]
            defer { for a in cargs { free(a) } }
            var pid: pid_t = 0
            guard posix_spawn(&pid, argv[0], &actions, nil, &cargs, environ) == 0 else { return (-1, "spawn failed") }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return ((status >> 8) & 0xff, "")
        }
        let argv = asPostgres ? ["/usr/sbin/runuser", "-u", "postgres", "--"] + args : args
        return try ServeProcess.run(argv[0], Array(argv.dropFirst()))
    }

    /// A cluster of its own (for tests that stop and start the server), stopped at exit like the shared one.
    public static func dedicated() throws -> Running {
        lock.lock()
        defer { lock.unlock() }
        let saved = stopAtExit
        let r = try start()
        if let mine = stopAtExit { extraClusters.append(mine) }
        stopAtExit = saved ?? stopAtExit
        return r
    }
    nonisolated(unsafe) static var extraClusters: [(String, String, Bool)] = []

    static func options(_ r: Running) -> String { "-k \(r.socketDirectory) -c listen_addresses=127.0.0.1 -p \(r.port) -c fsync=off -c max_connections=200" }

    /// Stops the server fast (clients see their connections end) and keeps its data.
    public static func stopServer(_ r: Running) throws {
        _ = try run([r.bin + "/pg_ctl", "-D", r.directory + "/data", "-m", "fast", "-w", "stop"], asPostgres: getuid() == 0, detach: true)
    }

    /// Starts a stopped server again on the same port and socket.
    public static func startServer(_ r: Running) throws {
        let (rc, _) = try run([r.bin + "/pg_ctl", "-D", r.directory + "/data", "-l", r.directory + "/log", "-w", "-t", "30", "-o", options(r), "start"],
                              asPostgres: getuid() == 0, detach: true)
        guard rc == 0 else { throw Unavailable(description: "pg_ctl start failed again") }
    }

    static func start() throws -> Running {
        guard let bin = binDirectory() else { throw Unavailable(description: "PostgreSQL is not installed (`make test` installs it)") }
        let root = getuid() == 0
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgt-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try password.write(toFile: dir + "/pwfile", atomically: true, encoding: .utf8)
        if root {
            _ = try run(["/usr/bin/chown", "-R", "postgres:", dir], asPostgres: false)
        }
        let (rc, text) = try run([bin + "/initdb", "-D", dir + "/data", "-U", "postgres", "--pwfile=" + dir + "/pwfile", "--auth-local=trust",
                                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"], asPostgres: root)
        guard rc == 0 else { throw Unavailable(description: "initdb failed: \(text)") }
        for _ in 0..<5 {
            // Below the ephemeral range (32768-60999): a client reconnecting while the server is
            // down could otherwise connect to itself on this port and keep it from starting again.
            let port = 10_000 + Int.random(in: 0..<10_000)
            let (started, _) = try run([bin + "/pg_ctl", "-D", dir + "/data", "-l", dir + "/log", "-w", "-t", "30", "-o",
                                        "-k \(dir) -c listen_addresses=127.0.0.1 -p \(port) -c fsync=off -c max_connections=200", "start"], asPostgres: root, detach: true)
            if started == 0 {
                stopAtExit = (bin + "/pg_ctl", dir, root)
                atexit { PostgresCluster.stop() }
                return Running(directory: dir, socketDirectory: dir, port: port, bin: bin)
            }
            if !((try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? "").contains("in use") { break }
        }
        throw Unavailable(description: "pg_ctl start failed: \((try? String(contentsOfFile: dir + "/log", encoding: .utf8)) ?? "")")
    }

    nonisolated(unsafe) static var stopAtExit: (String, String, Bool)?

    static func stop() {
        for (pgctl, dir, root) in extraClusters {
            _ = try? run([pgctl, "-D", dir + "/data", "-m", "immediate", "stop"], asPostgres: root, detach: true)
            try? FileManager.default.removeItem(atPath: dir)
        }
        guard let (pgctl, dir, root) = stopAtExit else { return }
        _ = try? run([pgctl, "-D", dir + "/data", "-m", "immediate", "stop"], asPostgres: root, detach: true)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A new empty database on the shared cluster, and its URL over the Unix socket (trust).
    public static func freshDatabase(prefix: String = "t", on cluster: Running? = nil) throws -> (name: String, url: String) {
        let c = try cluster ?? shared()
        let name = prefix + "_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
        try psql("CREATE DATABASE \(name)", on: c)
        return (name, "postgres://postgres@/\(name)?host=\(c.socketDirectory)&port=\(c.port)&sslmode=disable")
    }

    /// A URL for `database` over loopback TCP with the SCRAM password (what a deployment would use).
    public static func tcpURL(database: String) throws -> String {
        "postgres://postgres:\(password)@127.0.0.1:\(try shared().port)/\(database)?sslmode=disable"
    }

    /// Runs SQL through psql on the socket (setup the client under test must not do itself).
    @discardableResult
    public static func psql(_ sql: String, database: String = "postgres", on cluster: Running? = nil) throws -> String {
        let c = try cluster ?? shared()
        let (rc, text) = try run([c.bin + "/psql", "-h", c.socketDirectory, "-p", "\(c.port)", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql], asPostgres: false)
        guard rc == 0 else { throw Unavailable(description: "psql failed: \(text)") }
        return text
    }
}
