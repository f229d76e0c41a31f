import APIRuntime
import Synchronization

/// Where the poll interval guard is kept when several instances serve one
/// Khala: a consumer alternating between instances is still held to the interval.
public protocol PollGuardLedger: Sendable {
    /// Admits a poll of `key` at wall-clock `nowMs` (and records it) unless the
    /// last admitted one was less than `minIntervalMs` ago: then how long to wait.
    func admitPoll(key: String, nowMs: UInt64, minIntervalMs: UInt64) throws(APIError) -> UInt64?
}

/// What the poll rules remember per consumer: when it last polled a topic,
/// its slow-consumer strikes, and which topics each principal is active on
/// (for fairness). Bounded: entries idle for longer than the active window
/// are swept.
public final class KhalaConsumers: Sendable {
    struct Consumer {
        var lastPollMs: UInt64
        var strikes: UInt32
    }
    struct State {
        var consumers: [String: Consumer] = [:]
        /// consumer (principal user|org|device) -> topic -> last poll
        var active: [String: [String: UInt64]] = [:]
        var lastSweepMs: UInt64 = 0
    }
    private let state = Mutex(State())
    let config: KhalaConfig

    public init(config: KhalaConfig) { self.config = config }

    /// The interval guard: nil when the poll may go ahead (and is recorded), else how long to wait.
    func admit(consumer: String, topic: String, nowMs: UInt64) -> (retryAfterMs: UInt64?, activeTopics: Int) {
        state.withLock { s in
            sweep(&s, nowMs)
            let key = consumer + "\u{0}" + topic
            if let c = s.consumers[key], nowMs >= c.lastPollMs, nowMs - c.lastPollMs < config.pollMinIntervalMs {
                return (config.pollMinIntervalMs - (nowMs - c.lastPollMs), s.active[consumer]?.count ?? 1)
            }
            s.consumers[key, default: Consumer(lastPollMs: nowMs, strikes: 0)].lastPollMs = nowMs
            s.active[consumer, default: [:]][topic] = nowMs
            return (nil, s.active[consumer]?.count ?? 1)
        }
    }

    /// Adds a strike when `lag` is over the threshold, clears them when it is not; the strikes now.
    func strike(consumer: String, topic: String, lag: UInt64) -> UInt32 {
        state.withLock { s in
            let key = consumer + "\u{0}" + topic
            var c = s.consumers[key] ?? Consumer(lastPollMs: 0, strikes: 0)
            c.strikes = lag > config.slowConsumerLagThreshold ? c.strikes + 1 : 0
            s.consumers[key] = c
            return c.strikes
        }
    }

    /// After an eviction the consumer starts over (once it follows the suggested cursor).
    func evicted(consumer: String, topic: String) {
        state.withLock { s in s.consumers[consumer + "\u{0}" + topic]?.strikes = 0 }
    }

    private func sweep(_ s: inout State, _ nowMs: UInt64) {
        guard nowMs - min(nowMs, s.lastSweepMs) >= 1000 else { return }
        s.lastSweepMs = nowMs
        let window = config.activeTopicWindowMs
        s.consumers = s.consumers.filter { nowMs - min(nowMs, $0.value.lastPollMs) < window || $0.value.strikes > 0 && nowMs - min(nowMs, $0.value.lastPollMs) < 10 * window }
        for (p, topics) in s.active {
            let kept = topics.filter { nowMs - min(nowMs, $0.value) < window }
            s.active[p] = kept.isEmpty ? nil : kept
        }
    }
}
