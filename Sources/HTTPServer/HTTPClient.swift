import CSystem
import Dispatch
import Foundation
import Glibc
import Synchronization

/// Our HTTP/1.1 client: keep-alive connections pooled per origin, a connect
/// timeout and a per-exchange timeout, Content-Length and chunked bodies.
/// Exchanges run on blocking sockets off the caller's executor (a dedicated
/// concurrent queue), so an awaiting task never blocks a loop thread.
public final class HTTPClient: Sendable {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
    }

    public enum ClientError: Error, CustomStringConvertible, Sendable {
        case connect(String)
        case timeout
        case closed
        case malformed(String)
        public var description: String {
            switch self {
            case .connect(let s): return "connect failed: \(s)"
            case .timeout: return "timed out"
            case .closed: return "connection closed before the response was complete"
            case .malformed(let s): return "malformed response: \(s)"
            }
        }
    }

    public let host: String
    public let port: Int
    public let connectTimeout: Double
    public let timeout: Double
    public let maxIdle: Int
    private let idle = Mutex<[Int32]>([])
    /// Exchanges block a thread for a whole round trip, so they get threads of
    /// their own: Dispatch's pool stays near the core count, which capped a proxy
    /// at three calls in flight.
    private static let pool = BlockingPool(name: "http-client", maxThreads: 128)

    /// `base` is `http://host:port` (no TLS: put a TLS sidecar in front of anything remote).
    public init(host: String, port: Int, connectTimeout: Double = 2, timeout: Double = 10, maxIdle: Int = 64) {
        self.host = host
        self.port = port
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.maxIdle = maxIdle
    }

    public convenience init?(url: String, connectTimeout: Double = 2, timeout: Double = 10) {
        guard let u = URL(string: url), u.scheme == "http", let host = u.host else { return nil }
        self.init(host: host == "localhost" ? "127.0.0.1" : host, port: u.port ?? 80, connectTimeout: connectTimeout, timeout: timeout)
    }

    deinit { for fd in idle.withLock({ $0 }) { close(fd) } }

    /// Called from a handler running on one of our event loops, the exchange
    /// runs on that loop (no thread hop); from anywhere else, on a pool thread.
    public func send(method: String, target: String, headers: [(String, String)], body: [UInt8], timeout: Double? = nil) async throws -> Response {
        if let loop = EventLoop.current {
            let request = try serialize(method: method, target: target, headers: headers, body: body)
            let limit = timeout ?? self.timeout
            return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Response, Error>) in
                LoopExchange(loop: loop, host: host, port: port, request: request, headOnly: method == "HEAD", timeout: limit) { c.resume(with: $0) }.start()
            }
        }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Response, Error>) in
            Self.pool.run { [self] in
                c.resume(with: Result { try exchange(method: method, target: target, headers: headers, body: body, timeout: timeout ?? self.timeout) })
            }
        }
    }

    /// The request's bytes: head (our host header, a content length) and body.
    func serialize(method: String, target: String, headers: [(String, String)], body: [UInt8]) throws -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nhost: \(host):\(port)\r\n"
        for (k, v) in headers where k.lowercased() != "content-length" && k.lowercased() != "host" {
            guard !k.utf8.contains(where: { $0 == 13 || $0 == 10 }) && !v.utf8.contains(where: { $0 == 13 || $0 == 10 }) else { throw ClientError.malformed("header \(k) contains a line break") }
            head += "\(k): \(v)\r\n"
        }
        if !body.isEmpty || method == "POST" || method == "PUT" || method == "PATCH" { head += "content-length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }

    /// One exchange, retried once on a fresh connection when a pooled one turns out closed.
    func exchange(method: String, target: String, headers: [(String, String)], body: [UInt8], timeout: Double) throws -> Response {
        let request = try serialize(method: method, target: target, headers: headers, body: body)
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeout * 1e9)
        if let fd = idle.withLock({ $0.popLast() }) {
            if let r = try? roundTrip(fd, request, deadline: deadline, method: method) { return r }
            close(fd)
        }
        let fd = try connect()
        do { return try roundTrip(fd, request, deadline: deadline, method: method) } catch {
            close(fd)
            throw error
        }
    }

    private func connect() throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw ClientError.connect(systemError()) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { close(fd); throw ClientError.connect("\(host) is not an IPv4 address") }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if rc != 0 {
            guard errno == EINPROGRESS else { let e = systemError(); close(fd); throw ClientError.connect("\(host):\(port): \(e)") }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&p, 1, Int32(connectTimeout * 1000)) == 1 else { close(fd); throw ClientError.connect("\(host):\(port): connect timed out") }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0 else { close(fd); throw ClientError.connect("\(host):\(port): \(String(cString: strerror(err)))") }
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    /// Waits until `fd` is ready for `events` or the deadline passes.
    private func wait(_ fd: Int32, _ events: Int32, deadline: UInt64) throws {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now < deadline else { throw ClientError.timeout }
        var p = pollfd(fd: fd, events: Int16(events), revents: 0)
        let ms = Int32(min(Int64(Int32.max), Int64((deadline - now) / 1_000_000) + 1))
        let n = poll(&p, 1, ms)
        if n == 0 { throw ClientError.timeout }
        if n < 0 && errno != EINTR { throw ClientError.connect(systemError()) }
    }

    private func roundTrip(_ fd: Int32, _ request: [UInt8], deadline: UInt64, method: String) throws -> Response {
        var off = 0
        while off < request.count {
            let n = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, request.count - off, Int32(MSG_NOSIGNAL)) }
            if n > 0 { off += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { try wait(fd, Int32(POLLOUT), deadline: deadline); continue }
            throw ClientError.closed
        }
        var parser = ResponseParser(headOnly: method == "HEAD")
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            if let r = try parser.response() {
                if parser.keepAlive { idle.withLock { if $0.count < maxIdle { $0.append(fd) } else { close(fd) } } } else { close(fd) }
                return r
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { parser.feed(chunk[0..<n]); continue }
            if n == 0 {
                if let r = try parser.finishAtEOF() { close(fd); return r }
                throw ClientError.closed
            }
            if errno == EAGAIN || errno == EINTR { try wait(fd, Int32(POLLIN), deadline: deadline); continue }
            throw ClientError.closed
        }
    }
}

/// Incremental HTTP/1.1 response parsing: head, then a Content-Length,
/// chunked, or read-until-close body.
struct ResponseParser {
    let headOnly: Bool
    var buffer: [UInt8] = []
    var status = 0
    var headers: [(String, String)] = []
    var headEnd: Int?
    var keepAlive = true

    init(headOnly: Bool) { self.headOnly = headOnly }

    mutating func feed(_ bytes: ArraySlice<UInt8>) { buffer.append(contentsOf: bytes) }

    func find(_ pattern: [UInt8], from: Int) -> Int? {
        guard buffer.count >= pattern.count + from, let first = pattern.first else { return nil }
        return buffer.withUnsafeBufferPointer { b -> Int? in
            var i = from
            outer: while i + pattern.count <= b.count {
                if b[i] == first {
                    for k in 1..<pattern.count where b[i + k] != pattern[k] { i += 1; continue outer }
                    return i
                }
                i += 1
            }
            return nil
        }
    }

    /// Bytes `a..<b` without surrounding spaces and tabs, as a string.
    private func trimmed(_ a: Int, _ b: Int) -> String {
        var (lo, hi) = (a, b)
        while lo < hi, buffer[lo] == 0x20 || buffer[lo] == 0x09 { lo += 1 }
        while hi > lo, buffer[hi - 1] == 0x20 || buffer[hi - 1] == 0x09 { hi -= 1 }
        return String(decoding: buffer[lo..<hi], as: UTF8.self)
    }

    /// The status line and header fields, byte by byte (this runs once per proxied call).
    mutating func parseHead() throws -> Bool {
        if headEnd != nil { return true }
        guard let end = find([13, 10, 13, 10], from: 0) else { return false }
        let lineEnd = find([13, 10], from: 0) ?? end
        // "HTTP/1.x NNN reason"
        guard lineEnd >= 12, buffer[0..<7].elementsEqual("HTTP/1.".utf8), buffer[8] == 0x20 else {
            throw HTTPClient.ClientError.malformed("status line \(String(decoding: buffer[0..<lineEnd], as: UTF8.self))")
        }
        var code = 0
        for i in 9..<12 {
            let d = buffer[i]
            guard d >= 0x30 && d <= 0x39 else { throw HTTPClient.ClientError.malformed("status line \(String(decoding: buffer[0..<lineEnd], as: UTF8.self))") }
            code = code * 10 + Int(d - 0x30)
        }
        status = code
        let http11 = buffer[7] == 0x31
        if !http11 { keepAlive = false }
        var i = lineEnd + 2
        while i < end {
            let e = find([13, 10], from: i).map { min($0, end) } ?? end
            if let colon = buffer[i..<e].firstIndex(of: 0x3A) {
                let name = trimmed(i, colon), value = trimmed(colon + 1, e)
                headers.append((name, value))
                if name.utf8.count == 10, name.lowercased() == "connection" {
                    let v = value.lowercased()
                    keepAlive = v != "close" && (http11 || v == "keep-alive")
                }
            }
            i = e + 2
        }
        headEnd = end + 4
        return true
    }

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }

    mutating func response() throws -> HTTPClient.Response? {
        guard try parseHead(), let start = headEnd else { return nil }
        // 1xx interim responses are skipped.
        if status >= 100 && status < 200 {
            buffer.removeFirst(start)
            headEnd = nil
            headers = []
            return try response()
        }
        if headOnly || status == 204 || status == 304 { return HTTPClient.Response(status: status, headers: headers, body: []) }
        if header("transfer-encoding")?.lowercased().contains("chunked") == true {
            var body: [UInt8] = []
            var i = start
            while true {
                guard let lineEnd = find([13, 10], from: i) else { return nil }
                let sizeText = String(decoding: buffer[i..<lineEnd], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(HTTPParser.owsTrimmed(Substring(sizeText)), radix: 16) else { throw HTTPClient.ClientError.malformed("chunk size \(sizeText)") }
                let dataStart = lineEnd + 2
                if size == 0 {
                    guard find([13, 10], from: dataStart) != nil else { return nil }  // trailers not read
                    return HTTPClient.Response(status: status, headers: headers, body: body)
                }
                guard buffer.count >= dataStart + size + 2 else { return nil }
                body += buffer[dataStart..<dataStart + size]
                i = dataStart + size + 2
            }
        }
        if let lengthText = header("content-length") {
            guard let length = Int(lengthText), length >= 0 else { throw HTTPClient.ClientError.malformed("content-length \(lengthText)") }
            guard buffer.count >= start + length else { return nil }
            return HTTPClient.Response(status: status, headers: headers, body: Array(buffer[start..<start + length]))
        }
        keepAlive = false
        return nil  // read until the connection closes
    }

    mutating func finishAtEOF() throws -> HTTPClient.Response? {
        guard try parseHead(), let start = headEnd, header("content-length") == nil, header("transfer-encoding") == nil else { return nil }
        return HTTPClient.Response(status: status, headers: headers, body: Array(buffer[start...]))
    }
}


/// Threads for blocking work, started on demand up to a limit and kept for
/// reuse: a job waits only when every thread is busy and the limit is reached.
final class BlockingPool: @unchecked Sendable {
    private struct State {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var threads = 0
        var idle = 0
    }
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    let name: String
    let maxThreads: Int

    init(name: String, maxThreads: Int) {
        self.name = name
        self.maxThreads = maxThreads
    }

    func run(_ job: @escaping @Sendable () -> Void) {
        let spawn = state.withLock { s -> Bool in
            s.jobs.append(job)
            if s.idle > 0 { return false }  // a waiting thread takes it (it counts itself back in when it wakes)
            guard s.threads < maxThreads else { return false }
            s.threads += 1
            return true
        }
        if spawn {
            let t = Thread { [self] in self.work() }
            t.name = name
            t.start()
        } else {
            wake.signal()
        }
    }

    private func work() {
        while true {
            let job = state.withLock { s -> (@Sendable () -> Void)? in
                guard s.head < s.jobs.count else { return nil }
                let j = s.jobs[s.head]
                s.head += 1
                if s.head > 1024 && s.head * 2 > s.jobs.count { s.jobs.removeFirst(s.head); s.head = 0 }
                return j
            }
            if let job { job(); continue }
            state.withLock { $0.idle += 1 }
            wake.wait()
            state.withLock { $0.idle -= 1 }
        }
    }
}
