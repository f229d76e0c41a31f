import Foundation
import Synchronization

/// At most `size` connections to one server, handed out one caller at a
/// time. A connection that broke is dropped and replaced on demand; one idle
/// longer than `healthCheckAfter` is checked with `SELECT 1` before it is
/// handed out; connecting again after a failure waits a backoff that doubles
/// up to `maxBackoff`, so an outage is answered at once (with the last
/// error) instead of by a storm of connects. Blocking calls: run them off
/// event loops.
public final class PostgresPool: Sendable {
    public let config: PostgresConfig
    public let size: Int
    public let healthCheckAfter: Double
    public let maxBackoff: Double
    /// How long a caller waits for a free connection before `.timeout`.
    public let acquireTimeout: Double

    struct State {
        var idle: [(PostgresConnection, Double)] = []
        var open = 0
        var failures = 0
        var retryAt = 0.0
        var lastError: PostgresError?
    }
    private let state = Mutex(State())
    private let freed = NSCondition()

    public init(config: PostgresConfig, size: Int = 8, healthCheckAfter: Double = 30, maxBackoff: Double = 5, acquireTimeout: Double = 5) {
        self.config = config
        self.size = max(1, size)
        self.healthCheckAfter = healthCheckAfter
        self.maxBackoff = maxBackoff
        self.acquireTimeout = acquireTimeout
    }

    /// Open connections (idle and in use).
    public var openConnections: Int { state.withLock { $0.open } }

    /// Runs `body` with a connection of the pool.
    public func withConnection<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        let c = try acquire()
        defer { release(c) }
        return try body(c)
    }

    /// A connection kept out of the pool across suspension points (a session
    /// lock held while other work runs); give it back with `checkIn`.
    public func checkOut() throws(PostgresError) -> PostgresConnection { try acquire() }
    public func checkIn(_ c: PostgresConnection) { release(c) }

    enum Next { case use(PostgresConnection, Double), connect, wait, backoff(PostgresError) }

    func acquire() throws(PostgresError) -> PostgresConnection {
        let deadline = PostgresConnection.now() + acquireTimeout
        while true {
            let now = PostgresConnection.now()
            let next = state.withLock { s -> Next in
                if let (c, since) = s.idle.popLast() { return .use(c, since) }
                guard s.open < size else { return .wait }
                if s.failures > 0, now < s.retryAt { return .backoff(s.lastError ?? PostgresError(.connection, "the database is unreachable")) }
                s.open += 1
                return .connect
            }
            switch next {
            case .use(let c, let since):
                if c.isBroken { drop(); continue }
                if now - since > healthCheckAfter, (try? c.simpleQuery("SELECT 1")) == nil { c.close(); drop(); continue }
                return c
            case .connect:
                do {
                    let c = try PostgresConnection.connect(config)
                    state.withLock { $0.failures = 0 }
                    return c
                } catch {
                    state.withLock { s in
                        s.open -= 1
                        s.failures += 1
                        s.lastError = error
                        s.retryAt = PostgresConnection.now() + min(maxBackoff, 0.05 * pow(2, Double(min(s.failures, 10))))
                    }
                    freed.broadcast()
                    throw error
                }
            case .backoff(let e):
                throw e
            case .wait:
                freed.lock()
                let got = freed.wait(until: Date(timeIntervalSinceNow: max(0, deadline - now)))
                freed.unlock()
                if !got && PostgresConnection.now() >= deadline { throw PostgresError(.timeout, "no connection of the pool's \(size) came free within \(acquireTimeout) s") }
            }
        }
    }

    func release(_ c: PostgresConnection) {
        if c.isBroken || c.transactionStatus != UInt8(ascii: "I") {
            // A connection left inside a transaction or broken is not handed to anyone else.
            c.close()
            drop()
            return
        }
        state.withLock { $0.idle.append((c, PostgresConnection.now())) }
        freed.broadcast()
    }

    private func drop() {
        state.withLock { $0.open -= 1 }
        freed.broadcast()
    }

    /// Closes the idle connections (those in use close when they come back broken or at deinit).
    public func close() {
        let idle = state.withLock { s -> [PostgresConnection] in
            let c = s.idle.map(\.0)
            s.open -= c.count
            s.idle.removeAll()
            return c
        }
        for c in idle { c.close() }
    }
}
