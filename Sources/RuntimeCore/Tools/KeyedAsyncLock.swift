import Synchronization

/// Mutual exclusion per key shared by every instance (PostgreSQL's advisory
/// locks): what one process's `KeyedAsyncLock` is to its own tasks.
public protocol SharedLocks: Sendable {
    /// Runs `body` while holding `key` across all instances; throws `unavailable` when the lock cannot be taken.
    func withSharedLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T
}

/// Mutual exclusion per key across suspension points (an actor would let calls
/// interleave at every `await`). Waiters are served in arrival order.
final class KeyedAsyncLock: Sendable {
    /// A key present is held; its array holds the waiters.
    private let state = Mutex<[String: [CheckedContinuation<Void, Never>]]>([:])

    func lock(_ key: String) async {
        if state.withLock({ s -> Bool in if s[key] == nil { s[key] = []; return true }; return false }) { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { s -> Bool in
                if s[key] == nil { s[key] = []; return true }
                s[key]?.append(c)
                return false
            }
            if acquired { c.resume() }
        }
    }

    /// Hands the key to the next waiter, or frees it.
    func unlock(_ key: String) {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard var waiters = s[key] else { return nil }
            if waiters.isEmpty { s[key] = nil; return nil }
            let n = waiters.removeFirst()
            s[key] = waiters
            return n
        }
        next?.resume()
    }

    func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async rethrows -> T {
        await lock(key)
        defer { unlock(key) }
        return try await body()
    }
}
