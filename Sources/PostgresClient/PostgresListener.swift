import Foundation
import Synchronization

/// A dedicated LISTEN connection that stays up: it listens on its channels,
/// hands each notification to `deliver` on its own thread, and when the
/// connection breaks (server restart, terminated backend) connects again with
/// a growing backoff and listens again. Notifications sent while it was away
/// are lost, as LISTEN's are: `resumed` runs after each reconnect so readers
/// catch up by their cursors (notifications are wake-up hints, never data).
public final class PostgresListener: Sendable {
    public let config: PostgresConfig
    public let channels: [String]
    let deliver: @Sendable (PostgresNotification) -> Void
    let resumed: @Sendable () -> Void
    private let running = Atomic<Bool>(false)
    private let connected = Atomic<Bool>(false)
    private let reconnects = Atomic<Int>(0)
    private let current = Mutex<PostgresConnection?>(nil)

    public init(config: PostgresConfig, channels: [String], resumed: @escaping @Sendable () -> Void = {},
                deliver: @escaping @Sendable (PostgresNotification) -> Void) {
        self.config = config
        self.channels = channels
        self.deliver = deliver
        self.resumed = resumed
    }

    /// Whether the LISTEN connection is up now.
    public var isConnected: Bool { connected.load(ordering: .relaxed) }
    /// How many times it connected again after losing the connection.
    public var reconnectCount: Int { reconnects.load(ordering: .relaxed) }

    public func start() {
        guard running.exchange(true, ordering: .relaxed) == false else { return }
        let t = Thread { [self] in loop() }
        t.name = "pg-listen"
        t.start()
    }

    public func stop() {
        running.store(false, ordering: .relaxed)
        current.withLock { $0?.close() }
    }

    private func loop() {
        var backoff = 0.05
        var first = true
        while running.load(ordering: .relaxed) {
            do {
                let c = try PostgresConnection.connect(config)
                for ch in channels { try c.listen(ch) }
                current.withLock { $0 = c }
                connected.store(true, ordering: .relaxed)
                backoff = 0.05
                if !first { reconnects.add(1, ordering: .relaxed); resumed() }
                first = false
                while running.load(ordering: .relaxed) {
                    for n in try c.notifications(timeout: 0.5) { deliver(n) }
                }
                c.close()
            } catch {
                connected.store(false, ordering: .relaxed)
                current.withLock { $0?.close(); $0 = nil }
                guard running.load(ordering: .relaxed) else { break }
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 2)
            }
        }
        connected.store(false, ordering: .relaxed)
    }
}
