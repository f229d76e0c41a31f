import Foundation
import Synchronization

/// Exactly one holder among the processes that ask: a session-level advisory
/// lock on a connection of its own. The holder keeps it while its connection
/// lives (checked every `interval`); when the holder stops or dies, the
/// server releases the lock with its session and another asker takes it at
/// its next try, within about `interval`.
public final class PostgresLease: Sendable {
    public let config: PostgresConfig
    public let key: Int64
    public let interval: Double
    private let held = Atomic<Bool>(false)
    private let running = Atomic<Bool>(true)
    private let current = Mutex<PostgresConnection?>(nil)

    public init(config: PostgresConfig, key: Int64, interval: Double = 1) {
        self.config = config
        self.key = key
        self.interval = interval
        let t = Thread { [self] in loop() }
        t.name = "pg-lease"
        t.start()
    }

    /// Whether this process holds the lease now.
    public var isHeld: Bool { held.load(ordering: .acquiring) }

    /// Whether `stop` was called.
    public var isStopped: Bool { !running.load(ordering: .relaxed) }

    /// Gives the lease up (closing the connection releases the lock at once).
    public func stop() {
        running.store(false, ordering: .relaxed)
        held.store(false, ordering: .releasing)
        current.withLock { $0?.close(); $0 = nil }
    }

    private func loop() {
        while running.load(ordering: .relaxed) {
            do {
                let c = try current.withLock { (slot: inout PostgresConnection?) throws -> PostgresConnection in
                    if let c = slot, !c.isBroken { return c }
                    slot?.close()
                    let c = try PostgresConnection.connect(config)
                    slot = c
                    return c
                }
                if held.load(ordering: .relaxed) {
                    _ = try c.query("SELECT 1")
                } else if try c.query("SELECT pg_try_advisory_lock($1)", [String(key)]).rows.first?[0] == "t" {
                    held.store(true, ordering: .releasing)
                }
            } catch {
                // The session (and with it the lock, if held) is gone.
                held.store(false, ordering: .releasing)
                current.withLock { $0?.close(); $0 = nil }
            }
            Thread.sleep(forTimeInterval: interval)
        }
        current.withLock { $0?.close(); $0 = nil }
    }
}
