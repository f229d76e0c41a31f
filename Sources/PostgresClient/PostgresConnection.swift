import Foundation
import Glibc
import ProtoWire

/// One `LISTEN` delivery.
public struct PostgresNotification: Sendable, Equatable {
    public var pid: Int32
    public var channel: String
    public var payload: String
}

/// A query's answer in text format: column names, rows (nil is NULL), the command tag.
public struct PostgresResult: Sendable, Equatable {
    public var columns: [String] = []
    public var rows: [[String?]] = []
    public var commandTag = ""

    /// The row count of INSERT/UPDATE/DELETE/SELECT (the tag's last number).
    public var affectedRows: Int { commandTag.split(separator: " ").last.flatMap { Int($0) } ?? 0 }

    /// The first row's value of `column`.
    public subscript(column: String) -> String? {
        guard let i = columns.firstIndex(of: column), let row = rows.first else { return nil }
        return row[i]
    }
}

/// One statement of a pipeline: SQL with `$1…` and text parameters (nil is NULL).
public struct PostgresQuery: Sendable {
    public var sql: String
    public var params: [String?]
    public init(_ sql: String, _ params: [String?] = []) {
        self.sql = sql
        self.params = params
    }
}

/// A connection speaking protocol 3.0 over TCP or a Unix socket, with
/// blocking calls bounded by deadlines (one caller at a time; the pool hands
/// connections out). Extended-query statements are prepared once per
/// connection and reused by SQL text; a pipeline writes many statements before
/// reading any answer. `LISTEN` notifications that arrive at any point are
/// kept for `notifications(timeout:)`.
public final class PostgresConnection: @unchecked Sendable {
    public let config: PostgresConfig
    private var fd: Int32 = -1
    private var framer = BackendFramer()
    /// Where `recv` writes, allocated once (a fresh 64 KiB per read cost more than the read).
    private var chunk = [UInt8](repeating: 0, count: 65536)
    private let lock = NSLock()
    /// ParameterStatus values the server reported (server_version, TimeZone, ...).
    public private(set) var parameters: [String: String] = [:]
    public private(set) var backendPID: Int32 = 0
    /// ReadyForQuery's status: `I` idle, `T` in a transaction, `E` in a failed transaction.
    public private(set) var transactionStatus = UInt8(ascii: "I")
    /// Set once the connection cannot be used any more (I/O failed, a deadline passed mid-answer).
    public private(set) var isBroken = false
    /// Prepared statements by SQL text: their name and result columns (described once, when parsed).
    private var prepared: [String: (name: String, columns: [String])] = [:]
    private var statementCounter = 0
    static let preparedLimit = 1000
    private var queued: [PostgresNotification] = []

    private init(config: PostgresConfig) { self.config = config }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    public static func connect(_ config: PostgresConfig) throws(PostgresError) -> PostgresConnection {
        if config.sslMode == .require {
            throw PostgresError(.tlsRequired, "sslmode=require: this client does not speak TLS; connect through a TLS sidecar (stunnel, PgBouncer) on a private network and use sslmode=disable")
        }
        let c = PostgresConnection(config: config)
        let deadline = Self.now() + config.connectTimeout
        try c.open(deadline: deadline)
        if config.sslMode == .prefer && !config.isUnixSocket {
            try c.write(Frontend.sslRequest, deadline: deadline)
            let answer = try c.readByte(deadline: deadline)
            if answer == UInt8(ascii: "S") {
                // The server would talk TLS; we cannot. Start again in plaintext (pg_hba decides).
                Glibc.close(c.fd)
                c.fd = -1
                c.framer = BackendFramer()
                try c.open(deadline: deadline)
            } else if answer != UInt8(ascii: "N") {
                throw PostgresError(.protocolViolation, "the server answered SSLRequest with \(answer)")
            }
        }
        try c.startup(deadline: deadline)
        return c
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    // MARK: Sockets

    private func open(deadline: Double) throws(PostgresError) {
        let target = config.isUnixSocket ? "\(config.host)/.s.PGSQL.\(config.port)" : "\(config.host):\(config.port)"
        var rc: Int32
        if config.isUnixSocket {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { throw PostgresError(.connection, "socket: \(String(cString: strerror(errno)))") }
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let path = Array("\(config.host)/.s.PGSQL.\(config.port)".utf8)
            guard path.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw PostgresError(.connection, "\(target): the socket path is too long") }
            withUnsafeMutableBytes(of: &addr.sun_path) { buf in for (i, b) in path.enumerated() { buf[i] = b }; buf[path.count] = 0 }
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        } else {
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(clamping: config.port).bigEndian)
            if inet_pton(AF_INET, config.host, &addr.sin_addr) != 1 {
                // A name: the first IPv4 address it resolves to.
                var hints = addrinfo()
                hints.ai_family = AF_INET
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var res: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(config.host, nil, &hints, &res) == 0, let first = res, let sa = first.pointee.ai_addr else {
                    throw PostgresError(.connection, "\(config.host) does not resolve to an IPv4 address")
                }
                addr.sin_addr = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                freeaddrinfo(res)
            }
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else { throw PostgresError(.connection, "socket: \(String(cString: strerror(errno)))") }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        if rc != 0 {
            guard errno == EINPROGRESS || errno == EAGAIN else { throw fail(.connection, "connect to \(target): \(String(cString: strerror(errno)))") }
            try wait(Int16(POLLOUT), deadline: deadline, what: "connect to \(target)")
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0 else { throw fail(.connection, "connect to \(target): \(String(cString: strerror(err)))") }
        }
        if !config.isUnixSocket, Self.connectedToItself(fd) {
            // A loopback connect to a port nobody listens on can pick that same port as its
            // own and connect to itself (TCP simultaneous open), holding the port the server
            // needs to start again: no server is there.
            throw fail(.connection, "connect to \(target): Connection refused (no server listening)")
        }
        // Connected: reads now block in recv itself (one system call per answer, not poll and
        // recv), each wait bounded by the receive timeout so deadlines still hold; sends stay
        // non-blocking per call (MSG_DONTWAIT) so a long pipeline can drain answers meanwhile.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        var slice = timeval(tv_sec: 0, tv_usec: Self.receiveSlice)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &slice, socklen_t(MemoryLayout<timeval>.size))
    }

    /// How long one blocking recv waits before the deadline is checked again (microseconds).
    static let receiveSlice = 100_000

    static func connectedToItself(_ fd: Int32) -> Bool {
        var local = sockaddr_in(), peer = sockaddr_in()
        var a = socklen_t(MemoryLayout<sockaddr_in>.size), b = a
        let l = withUnsafeMutablePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &a) } }
        let p = withUnsafeMutablePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &b) } }
        return l == 0 && p == 0 && local.sin_port == peer.sin_port && local.sin_addr.s_addr == peer.sin_addr.s_addr
    }

    private func fail(_ kind: PostgresError.Kind, _ message: String) -> PostgresError {
        isBroken = true
        return PostgresError(kind, message)
    }

    /// Waits for `events`; also drains what the server sends meanwhile, so a long
    /// pipeline never deadlocks with both sides' buffers full.
    private func wait(_ events: Int16, deadline: Double, what: String) throws(PostgresError) {
        while true {
            let left = deadline - Self.now()
            guard left > 0 else { throw fail(.timeout, "\(what): no answer within the deadline") }
            var p = pollfd(fd: fd, events: events | (events & Int16(POLLOUT) != 0 ? Int16(POLLIN) : 0), revents: 0)
            let n = poll(&p, 1, Int32(min(left * 1000, 60_000)) + 1)
            if n < 0 { if errno == EINTR { continue }; throw fail(.connection, "\(what): \(String(cString: strerror(errno)))") }
            if n == 0 { continue }
            if p.revents & Int16(POLLNVAL) != 0 { throw fail(.connection, "\(what): the socket is closed") }
            if events & Int16(POLLOUT) != 0, p.revents & Int16(POLLIN) != 0, p.revents & Int16(POLLOUT) == 0 { try fill(); continue }
            if p.revents & (events | Int16(POLLERR) | Int16(POLLHUP)) != 0 { return }
        }
    }

    /// Waits in recv for more bytes, up to one receive slice, unless the deadline passed.
    private func receive(deadline: Double) throws(PostgresError) {
        guard Self.now() < deadline else { throw fail(.timeout, "read: no answer within the deadline") }
        try fill()
    }

    /// Reads what is there, waiting at most one receive slice on the blocking socket.
    private func fill() throws(PostgresError) {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 { framer.feed(chunk[0..<n]); return }
        if n == 0 { throw fail(.connection, "the server closed the connection") }
        if errno == EAGAIN || errno == EINTR { return }
        throw fail(.connection, "recv: \(String(cString: strerror(errno)))")
    }

    private func write(_ bytes: [UInt8], deadline: Double) throws(PostgresError) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if n > 0 { sent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { try wait(Int16(POLLOUT), deadline: deadline, what: "send"); continue }
            throw fail(.connection, "send: \(String(cString: strerror(errno)))")
        }
    }

    private func readByte(deadline: Double) throws(PostgresError) -> UInt8 {
        while true {
            if let b = framer.byte() { return b }
            try receive(deadline: deadline)
        }
    }

    /// The next message that is not asynchronous (notifications are queued, notices and parameter changes noted).
    private func read(deadline: Double) throws(PostgresError) -> BackendMessage {
        while true {
            if let m = try framer.next() {
                switch m.type {
                case UInt8(ascii: "A"):
                    var r = BackendMessage.Reader(m.body)
                    queued.append(PostgresNotification(pid: try r.int32(), channel: try r.cString(), payload: try r.cString()))
                    continue
                case UInt8(ascii: "N"): continue
                case UInt8(ascii: "S"):
                    var r = BackendMessage.Reader(m.body)
                    parameters[try r.cString()] = try r.cString()
                    continue
                default: return m
                }
            }
            try receive(deadline: deadline)
        }
    }

    // MARK: Startup and authentication

    private func startup(deadline: Double) throws(PostgresError) {
        try write(Frontend.startup(user: config.user, database: config.database, applicationName: config.applicationName), deadline: deadline)
        var scram: SCRAMClient?
        while true {
            let m = try read(deadline: deadline)
            switch m.type {
            case UInt8(ascii: "R"):
                var r = BackendMessage.Reader(m.body)
                let code = try r.int32()
                switch code {
                case 0: break
                case 3:
                    guard config.allowCleartextPassword else {
                        throw fail(.authentication, "the server asks for the password in cleartext; refused (allow it explicitly, or configure scram-sha-256)")
                    }
                    guard let pw = config.password else { throw fail(.authentication, "the server asks for a password and none is configured") }
                    try write(Frontend.password(pw), deadline: deadline)
                case 5:
                    throw fail(.authentication, "the server asks for MD5 password authentication, which this client does not do: use scram-sha-256")
                case 10:
                    var mechanisms: [String] = []
                    while true { let s = try r.cString(); if s.isEmpty { break }; mechanisms.append(s) }
                    guard mechanisms.contains("SCRAM-SHA-256") else { throw fail(.authentication, "the server offers \(mechanisms.joined(separator: ", ")), not SCRAM-SHA-256") }
                    guard let pw = config.password else { throw fail(.authentication, "the server asks for a password and none is configured") }
                    let s = SCRAMClient(password: pw)
                    scram = s
                    try write(Frontend.saslInitial(mechanism: "SCRAM-SHA-256", Array(s.clientFirst.utf8)), deadline: deadline)
                case 11:
                    guard var s = scram else { throw fail(.protocolViolation, "SASLContinue before SASL") }
                    let final = try s.clientFinal(serverFirst: String(decoding: r.rest, as: UTF8.self))
                    scram = s
                    try write(Frontend.saslResponse(Array(final.utf8)), deadline: deadline)
                case 12:
                    guard let s = scram else { throw fail(.protocolViolation, "SASLFinal before SASL") }
                    do { try s.verify(serverFinal: String(decoding: r.rest, as: UTF8.self)) } catch { isBroken = true; throw error }
                default:
                    throw fail(.authentication, "authentication method \(code) is not supported")
                }
            case UInt8(ascii: "K"):
                var r = BackendMessage.Reader(m.body)
                backendPID = try r.int32()
            case UInt8(ascii: "Z"):
                transactionStatus = m.body.first ?? UInt8(ascii: "I")
                return
            case UInt8(ascii: "E"):
                let fields = try m.fields()
                isBroken = true
                var e = PostgresError.server(fields)
                if ["28P01", "28000"].contains(fields[UInt8(ascii: "C")] ?? "") { e.kind = .authentication }
                throw e
            default:
                throw fail(.protocolViolation, "unexpected message \(Character(Unicode.Scalar(m.type))) during startup")
            }
        }
    }

    // MARK: Queries

    private func deadline() -> Double { config.queryTimeout > 0 ? Self.now() + config.queryTimeout : .infinity }

    private func serialized<T>(_ body: () throws(PostgresError) -> T) throws(PostgresError) -> T {
        lock.lock()
        defer { lock.unlock() }
        guard !isBroken, fd >= 0 else { throw PostgresError(.connection, "the connection is closed") }
        return try body()
    }

    /// The simple query protocol (several statements allowed, text results): DDL, LISTEN, BEGIN/COMMIT.
    @discardableResult
    public func simpleQuery(_ sql: String) throws(PostgresError) -> [PostgresResult] {
        try serialized { () throws(PostgresError) -> [PostgresResult] in
            let d = deadline()
            try write(Frontend.query(sql), deadline: d)
            var results: [PostgresResult] = []
            var current = PostgresResult()
            var failure: PostgresError?
            while true {
                let m = try read(deadline: d)
                switch m.type {
                case UInt8(ascii: "T"): current = PostgresResult(); current.columns = try Self.columns(m)
                case UInt8(ascii: "D"): current.rows.append(try Self.row(m))
                case UInt8(ascii: "C"):
                    var r = BackendMessage.Reader(m.body)
                    current.commandTag = try r.cString()
                    results.append(current)
                    current = PostgresResult()
                case UInt8(ascii: "I"): results.append(PostgresResult())
                case UInt8(ascii: "E"): failure = PostgresError.server(try m.fields())
                case UInt8(ascii: "Z"):
                    transactionStatus = m.body.first ?? UInt8(ascii: "I")
                    if let failure { throw failure }
                    return results
                default: break
                }
            }
        }
    }

    /// One statement through the extended protocol (prepared once per connection).
    public func query(_ sql: String, _ params: [String?] = []) throws(PostgresError) -> PostgresResult {
        try pipeline([PostgresQuery(sql, params)])[0].get()
    }

    /// Many statements in one write, each with its own Sync: independent (a
    /// failing one does not affect the others), answered in order in one round trip.
    public func pipeline(_ queries: [PostgresQuery]) throws(PostgresError) -> [Result<PostgresResult, PostgresError>] {
        try run(queries, atomic: false)
    }

    /// Many statements in one write and one implicit transaction (one Sync at
    /// the end): all commit or none; after a failure the rest are `.skipped`.
    public func transaction(_ queries: [PostgresQuery]) throws(PostgresError) -> [Result<PostgresResult, PostgresError>] {
        try run(queries, atomic: true)
    }

    private func run(_ queries: [PostgresQuery], atomic: Bool) throws(PostgresError) -> [Result<PostgresResult, PostgresError>] {
        try serialized { () throws(PostgresError) -> [Result<PostgresResult, PostgresError>] in
            guard !queries.isEmpty else { return [] }
            let d = deadline()
            var out: [UInt8] = []
            var parsedHere: [String] = []
            /// Per statement: the columns known before it runs, or nil when its Describe answers them.
            var known: [[String]?] = []
            var pendingNames: [String: String] = [:]
            for (i, q) in queries.enumerated() {
                if let p = prepared[q.sql] {
                    out += Frontend.bind(statement: p.name, q.params)
                    out += Frontend.executeAll
                    known.append(p.columns)
                } else if let name = pendingNames[q.sql] {
                    // Parsed earlier in this same pipeline: its Describe there answers for it.
                    out += Frontend.bind(statement: name, q.params) + Frontend.describePortal() + Frontend.execute()
                    known.append(nil)
                } else if prepared.count < Self.preparedLimit {
                    statementCounter += 1
                    let name = "oa\(statementCounter)"
                    pendingNames[q.sql] = name
                    parsedHere.append(q.sql)
                    out += Frontend.parse(name: name, sql: q.sql) + Frontend.describeStatement(name) + Frontend.bind(statement: name, q.params) + Frontend.execute()
                    known.append(nil)
                } else {
                    out += Frontend.parse(name: "", sql: q.sql) + Frontend.bind(statement: "", q.params) + Frontend.describePortal() + Frontend.execute()
                    known.append(nil)
                }
                if !atomic || i == queries.count - 1 { out += Frontend.sync }
            }
            try write(out, deadline: d)
            var results: [Result<PostgresResult, PostgresError>] = []
            var current = PostgresResult()
            var failed: PostgresError?
            var described: [String: (name: String, columns: [String])] = [:]
            var syncs = atomic ? 1 : queries.count
            func finish(_ r: inout PostgresResult) {
                let index = results.count
                if r.columns.isEmpty, index < known.count, let columns = known[index] { r.columns = columns }
            }
            while syncs > 0 {
                let m = try read(deadline: d)
                switch m.type {
                case UInt8(ascii: "1"), UInt8(ascii: "2"), UInt8(ascii: "n"), UInt8(ascii: "t"): break
                case UInt8(ascii: "T"):
                    current.columns = try Self.columns(m)
                    // A statement's Describe (right after its Parse): remember the columns for later runs.
                    let index = results.count
                    if index < queries.count, let name = pendingNames[queries[index].sql] { described[queries[index].sql] = (name, current.columns) }
                case UInt8(ascii: "D"): current.rows.append(try Self.row(m))
                case UInt8(ascii: "C"), UInt8(ascii: "I"):
                    if m.type == UInt8(ascii: "C") { var r = BackendMessage.Reader(m.body); current.commandTag = try r.cString() }
                    finish(&current)
                    results.append(.success(current))
                    current = PostgresResult()
                case UInt8(ascii: "s"):
                    finish(&current)
                    results.append(.success(current))
                    current = PostgresResult()
                case UInt8(ascii: "E"):
                    let e = PostgresError.server(try m.fields())
                    failed = e
                    results.append(.failure(e))
                    current = PostgresResult()
                case UInt8(ascii: "Z"):
                    transactionStatus = m.body.first ?? UInt8(ascii: "I")
                    syncs -= 1
                    // The server skipped what followed the error until this Sync.
                    let expected = atomic ? queries.count : queries.count - syncs
                    while results.count < expected {
                        results.append(.failure(PostgresError(.skipped, "not run: an earlier statement of the same transaction failed: \(failed?.message ?? "")")))
                    }
                    if atomic, failed != nil {
                        // Nothing of the group committed: a success reported before the error did not stay.
                        results = results.map { r in
                            if case .success = r { return .failure(PostgresError(.skipped, "rolled back: a later statement of the same transaction failed: \(failed?.message ?? "")")) }
                            return r
                        }
                    }
                default:
                    throw fail(.protocolViolation, "unexpected message \(Character(Unicode.Scalar(m.type))) in a query's answer")
                }
            }
            // Only statements whose Parse and Describe came back are prepared on the server.
            for sql in parsedHere {
                if let d = described[sql] { prepared[sql] = d } else if failed == nil, let name = pendingNames[sql] { prepared[sql] = (name, []) }
            }
            return results
        }
    }

    static func columns(_ m: BackendMessage) throws(PostgresError) -> [String] {
        var r = BackendMessage.Reader(m.body)
        let n = Int(try r.int16())
        var names: [String] = []
        for _ in 0..<max(0, n) {
            names.append(try r.cString())
            _ = try r.bytes(18)
        }
        return names
    }

    static func row(_ m: BackendMessage) throws(PostgresError) -> [String?] {
        var r = BackendMessage.Reader(m.body)
        let n = Int(try r.int16())
        var values: [String?] = []
        values.reserveCapacity(max(0, n))
        for _ in 0..<max(0, n) {
            let len = Int(try r.int32())
            if len < 0 { values.append(nil); continue }
            values.append(String(decoding: try r.bytes(len), as: UTF8.self))
        }
        return values
    }

    // MARK: LISTEN

    public func listen(_ channel: String) throws(PostgresError) {
        try simpleQuery("LISTEN " + Self.identifier(channel))
    }

    /// Notifications received so far, or the next ones within `timeout` seconds (empty when none came).
    public func notifications(timeout: Double) throws(PostgresError) -> [PostgresNotification] {
        try serialized { () throws(PostgresError) -> [PostgresNotification] in
            if queued.isEmpty {
                let d = Self.now() + timeout
                while queued.isEmpty {
                    if let m = try framer.next() {
                        if m.type == UInt8(ascii: "A") {
                            var r = BackendMessage.Reader(m.body)
                            queued.append(PostgresNotification(pid: try r.int32(), channel: try r.cString(), payload: try r.cString()))
                        } else if m.type == UInt8(ascii: "E") {
                            throw fail(.connection, PostgresError.server(try m.fields()).description)
                        }
                        continue
                    }
                    let left = d - Self.now()
                    guard left > 0 else { break }
                    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let n = poll(&p, 1, Int32(left * 1000) + 1)
                    if n > 0 { try fill() } else if n < 0 && errno != EINTR { throw fail(.connection, "poll: \(String(cString: strerror(errno)))") }
                }
            }
            defer { queued.removeAll() }
            return queued
        }
    }

    /// A quoted identifier (`"name"`, inner quotes doubled).
    public static func identifier(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// Terminate, then close the socket.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        guard fd >= 0 else { return }
        if !isBroken { _ = Frontend.terminate.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        Glibc.close(fd)
        fd = -1
        isBroken = true
    }
}
