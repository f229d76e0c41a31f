import CSystem
import Foundation
import Glibc
import Synchronization

public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port = 0
    public var loops = max(1, ProcessInfo.processInfo.activeProcessorCount)
    public var limits = HTTPLimits()
    /// Slow-loris guard: the head (and then the body) must arrive within this.
    public var headerTimeout: Double = 10
    public var idleTimeout: Double = 60
    public var maxConnections = 50_000
    /// Unsent bytes a streaming client may fall behind by before it is dropped.
    public var streamBufferLimit = 1 << 20
    /// A WebSocket data message (its fragments together) may not exceed this (1009 otherwise).
    public var webSocketMaxMessageBytes = 1 << 20
    /// Requests parsed ahead of their responses on one connection.
    public var maxPipelineDepth = 64
    public var name = "openagents"
    public init() {}
}

/// The HTTP/1.1 server: one epoll event loop per core, each with its own
/// SO_REUSEPORT listening socket so the kernel spreads accepts; handlers run
/// inline (sync) or as tasks (async) whose results come back through the
/// loop's eventfd.
public final class HTTPServer: Sendable {
    public let config: ServerConfig
    let router: Router
    public let logger: Logger
    public let metrics: Metrics
    /// Renders the core's own failures (404, 405, malformed requests) in the service's envelope.
    public let errors: ErrorRendering
    private let loops: Mutex<[EventLoop]> = Mutex([])
    private let boundPort = Atomic<Int>(0)
    let shuttingDown = Atomic<Bool>(false)
    let openConnections = Atomic<Int>(0)

    public init(config: ServerConfig, router: Router, logger: Logger = Logger(), metrics: Metrics = Metrics(), errors: ErrorRendering = .plain) {
        self.errors = errors
        self.config = config
        self.router = router
        self.logger = logger
        self.metrics = metrics
    }

    public var port: Int { boundPort.load(ordering: .relaxed) }

    /// Binds and starts the loops; returns the bound port.
    @discardableResult
    public func start() throws -> Int {
        var port = config.port
        var created: [EventLoop] = []
        for i in 0..<config.loops {
            let fd = try HTTPServer.listen(host: config.host, port: port)
            if i == 0 { port = HTTPServer.localPort(fd) }
            created.append(try EventLoop(server: self, listenFD: fd, index: i))
        }
        boundPort.store(port, ordering: .relaxed)
        loops.withLock { $0 = created }
        for loop in created { loop.start() }
        logger.log(.info, "listening", ["address": "\(config.host):\(port)", "loops": "\(created.count)", "server": config.name])
        return port
    }

    /// Graceful stop: no new connections, in-flight requests finish (up to
    /// `deadline` seconds), streams are closed cleanly, then the loops exit.
    public func shutdown(deadline: Double = 10) async {
        shuttingDown.store(true, ordering: .relaxed)
        let all = loops.withLock { $0 }
        for loop in all { loop.execute { loop.stopAccepting() } }
        let start = Date()
        while metrics.inFlight.load(ordering: .relaxed) > 0 && Date().timeIntervalSince(start) < deadline {
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        for loop in all { loop.execute { loop.closeAll() } }
        while all.contains(where: { !$0.finished.load(ordering: .relaxed) }) && Date().timeIntervalSince(start) < deadline + 2 {
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        logger.log(.info, "stopped", ["server": config.name])
    }

    static func listen(host: String, port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError.socket("socket: \(systemError())") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { close(fd); throw ServerError.socket("invalid IPv4 address \(host)") }
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { let e = systemError(); close(fd); throw ServerError.socket("bind \(host):\(port): \(e)") }
        guard Glibc.listen(fd, 4096) == 0 else { close(fd); throw ServerError.socket("listen: \(systemError())") }
        return fd
    }

    static func localPort(_ fd: Int32) -> Int {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

public enum ServerError: Error, CustomStringConvertible {
    case socket(String)
    public var description: String { switch self { case .socket(let s): return s } }
}

/// A fast per-loop generator for request, trace and span ids (xorshift128+,
/// seeded from the system generator once per loop): ids need uniqueness, not
/// secrecy, and a system call per byte would dominate small requests.
struct IDGenerator {
    private var s0: UInt64
    private var s1: UInt64
    init() {
        var g = SystemRandomNumberGenerator()
        s0 = g.next() | 1
        s1 = g.next()
    }
    mutating func next() -> UInt64 {
        var x = s0
        let y = s1
        s0 = y
        x ^= x << 23
        s1 = x ^ y ^ (x >> 17) ^ (y >> 26)
        return s1 &+ y
    }
    /// `bytes` random bytes as lowercase hex.
    mutating func hex(_ bytes: Int) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: bytes * 2) { out in
            var i = 0
            while i < bytes * 2 {
                var word = next()
                for _ in 0..<16 where i < bytes * 2 {
                    out[i] = digits.utf8Start[Int(word & 15)]
                    word >>= 4
                    i += 1
                }
            }
            return bytes * 2
        }
    }
}

/// Random lowercase hex outside a loop (rare paths).
func randomHex(_ bytes: Int) -> String {
    var g = IDGenerator()
    return g.hex(bytes)
}

/// The text of the current `errno`.
public func systemError() -> String {
    guard let message = strerror(errno) else { return "error \(errno)" }
    return String(decoding: UnsafeRawBufferPointer(start: message, count: strlen(message)), as: UTF8.self)
}
