import APIRuntime
import Dispatch
import Foundation
import Generated
import ProtoWire
import Synchronization

/// Khala over the runtime store: the admission rules (origin, sync token,
/// topic ACL), the poll rules in the order of reference-system.md 2.6, the
/// WebSocket lane's hub, and the per-class counters.
public final class Khala: Sendable {
    public let config: KhalaConfig
    public let driver: any FanoutDriver
    public let hub: KhalaHub
    let consumers: KhalaConsumers
    let authorizer: SyncAuthorizer?
    let store: any RuntimeStore
    /// The shared poll interval guard, when the store keeps one (PostgreSQL).
    let pollGuard: (any PollGuardLedger)?
    public let counters: KhalaCounters
    let clockMs: @Sendable () -> UInt64

    /// `authorizer` nil: no sync-token key, every Khala route answers 401.
    /// Fleet and published topics; nil when Khala keeps no log of its own.
    public let topics: KhalaTopics?

    public init(config: KhalaConfig, store: any RuntimeStore, retention: UInt64, authorizer: SyncAuthorizer?, topicsPath: String? = nil,
                clockMs: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds / 1_000_000 }) throws {
        self.config = config
        self.store = store
        pollGuard = store as? any PollGuardLedger
        self.clockMs = clockMs
        let topics = try topicsPath.map { try KhalaTopics(path: $0, store: store, config: config, database: (store as? PostgresStore)?.config) }
        self.topics = topics
        self.authorizer = authorizer.map { a in
            var a = a
            a.revoked = { topics?.isRevoked($0) ?? false }
            return a
        }
        let driver = EmbeddedFanout(store: store, retention: retention, topics: topics)
        self.driver = driver
        consumers = KhalaConsumers(config: config)
        counters = KhalaCounters()
        hub = KhalaHub(driver: driver, counters: counters, config: config)
        let hub = self.hub
        store.subscribe { hub.publish($0) }
        topics?.subscribe { hub.publish(topics: $0) }
    }

    /// Publishes to a topic Khala keeps (codex worker events, fallback topics).
    public func publish(_ request: SyncV1.KhalaPublishRequest, topic: String) async throws(KhalaError) -> (SyncV1.FanoutMessage, replay: Bool) {
        guard let topics else { throw KhalaError(503, "service_unavailable", "khala keeps no topics of its own here") }
        let (m, replay) = try await topics.publish(topic: topic, kind: request.kind, payload: request.payload, idempotencyKey: request.idempotencyKey)
        if !replay { counters.add(KhalaTopic(topic).className, \.published) }
        return (m, replay)
    }

    // MARK: Admission (before any decoding or upgrade)

    /// Origin policy, then the token, then the topic ACL.
    public func admit(topic name: String, origin: String?, authorization: String?) throws(KhalaError) -> SyncPrincipal {
        if config.enforceOrigin, let origin = origin?.whitespaceTrimmed, !origin.isEmpty, !config.allowedOrigins.contains(origin) {
            throw KhalaError(403, "forbidden_origin", "origin \(origin) may not use khala", reasonCode: "origin_not_allowed")
        }
        guard let authorizer else { throw .unauthorized("invalid_token") }
        let principal = try authorizer.verify(authorization: authorization)
        let store = self.store
        try authorizer.authorize(KhalaTopic(name), principal, workerOwner: { id in
            ((try? store.worker(id)) ?? nil).map { ($0.ownerUserRef, $0.ownerGuestScope) }
        }, runOwner: { id in ((try? store.runRecord(id)) ?? nil)?.ownerUserRef })
        return principal
    }

    // MARK: Polling

    /// A cursor or limit parameter: absent is nil, anything but a non-negative integer is 400.
    public static func cursor(_ text: String?, _ name: String) throws(KhalaError) -> UInt64? {
        guard let t = text?.whitespaceTrimmed, !t.isEmpty else { return nil }
        guard let n = UInt64(t) else { throw KhalaError(400, "invalid_request", "\(name) must be a non-negative integer") }
        return n
    }

    /// The stale-cursor rule on a window: nil when `after` can be resumed.
    public func staleCursor(_ topic: KhalaTopic, after: UInt64, window: TopicWindow) -> SyncV1.StaleCursorDetails? {
        guard let head = window.headCursor, let oldest = window.oldestAvailableCursor else { return nil }
        let cls = config.topicClass(topic.className)
        var reasons: [String] = []
        if after < oldest { reasons.append("retention_floor_breach") }
        if after < head && head - after > cls.replayBudgetEvents { reasons.append("replay_budget_exceeded") }
        guard !reasons.isEmpty else { return nil }
        var d = SyncV1.StaleCursorDetails()
        d.topic = topic.name
        d.requestedCursor = after
        d.oldestAvailableCursor = oldest
        d.headCursor = head
        d.reasonCodes = reasons
        d.replayLag = head > after ? head - after : 0
        d.replayBudgetEvents = cls.replayBudgetEvents
        d.qosTier = cls.qosTier
        d.recovery = "reset_local_watermark_and_replay_bootstrap"
        return d
    }

    public func staleError(_ d: SyncV1.StaleCursorDetails) -> KhalaError {
        var e = KhalaError(410, "stale_cursor", "cursor cannot be resumed from retained stream window", reasonCode: d.reasonCodes.first)
        e.staleCursor = d
        return e
    }

    /// The deterministic reconnect hint: 400 ms plus FNV-1a(consumer, cursor) mod 251.
    public func reconnectBackoff(consumer: String, cursor: UInt64) -> UInt32 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in (consumer + "|" + String(cursor)).utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return config.reconnectBackoffBaseMs + UInt32(h % UInt64(config.reconnectJitterMs + 1))
    }

    /// One poll, after admission: limits and fairness, the interval guard,
    /// slow-consumer strikes, stale cursors, then the page.
    public func poll(topic name: String, principal: SyncPrincipal, afterSeq: String?, limit: String?) throws(KhalaError) -> SyncV1.KhalaPollResponse {
        let topic = KhalaTopic(name)
        let after = try Self.cursor(afterSeq, "after_seq") ?? 0
        let requested = try Self.cursor(limit, "limit") ?? UInt64(config.pollDefaultLimit)
        guard requested > 0 else { throw KhalaError(400, "invalid_request", "limit must be at least 1") }
        let cls = topic.className
        let cap = UInt64(min(config.pollMaxLimit, config.outboundQueueLimit, KhalaConfig.driverHardCap))
        var applied = min(requested, cap)
        let capped = requested > cap
        let consumer = principal.consumerKey
        let (retry, activeTopics) = consumers.admit(consumer: consumer, topic: name, nowMs: clockMs())
        var wait = retry
        if wait == nil, let shared = pollGuard {
            do throws(APIError) { wait = try shared.admitPoll(key: consumer + " " + name, nowMs: UInt64(Date().timeIntervalSince1970 * 1000), minIntervalMs: config.pollMinIntervalMs) } catch {
                throw KhalaError(503, "service_unavailable", error.message)
            }
        }
        if let retry = wait {
            counters.add(cls, \.rateLimited)
            throw KhalaError(429, "rate_limited", "poll again after \(retry) ms", reasonCode: "poll_interval_guard", retryAfterMs: UInt32(clamping: retry))
        }
        var fairness = false
        if activeTopics >= 2 && applied > UInt64(config.fairTopicSliceLimit) {
            applied = UInt64(config.fairTopicSliceLimit)
            fairness = true
        }
        counters.add(cls, \.polls)
        let window = driver.window(topic)
        let head = window.headCursor ?? 0
        let lag = head > after ? head - after : 0
        let strikes = consumers.strike(consumer: consumer, topic: name, lag: lag)
        if strikes >= config.slowConsumerMaxStrikes {
            consumers.evicted(consumer: consumer, topic: name)
            counters.add(cls, \.evictions)
            var d = SyncV1.SlowConsumerDetails()
            d.topic = name
            d.lag = lag
            d.lagThreshold = config.slowConsumerLagThreshold
            d.strikes = strikes
            d.maxStrikes = config.slowConsumerMaxStrikes
            d.suggestedAfterSeq = window.oldestAvailableCursor ?? 0
            d.recovery = "advance_cursor_or_rebootstrap"
            var e = KhalaError(409, "slow_consumer_evicted", "consumer lagged \(lag) messages behind on \(strikes) polls", reasonCode: "slow_consumer_lag_exceeded")
            e.slowConsumer = d
            throw e
        }
        if let stale = staleCursor(topic, after: after, window: window) {
            counters.add(cls, \.staleCursors)
            throw staleError(stale)
        }
        let messages: [SyncV1.FanoutMessage]
        do { messages = try driver.poll(topic, after: after, limit: Int(applied)) } catch {
            throw KhalaError(503, "fanout_error", "the fan-out driver failed: \(error.message)")
        }
        counters.add(cls, \.delivered, UInt64(messages.count))
        var r = SyncV1.KhalaPollResponse()
        r.topic = name
        r.driver = driver.name
        r.messages = messages.sorted { $0.sequence < $1.sequence }
        r.oldestAvailableCursor = window.oldestAvailableCursor
        r.headCursor = window.headCursor
        r.queueDepth = window.queueDepth
        r.droppedMessages = window.droppedMessages
        r.nextCursor = r.messages.last?.sequence ?? after
        r.replayComplete = window.headCursor == nil || r.nextCursor >= head
        r.limitApplied = UInt32(applied)
        r.limitCapped = capped
        r.fairnessApplied = fairness
        r.activeTopicCount = UInt32(activeTopics)
        r.outboundQueueLimit = config.outboundQueueLimit
        r.consumerLag = lag
        r.slowConsumerStrikes = strikes
        r.slowConsumerMaxStrikes = config.slowConsumerMaxStrikes
        r.recommendedReconnectBackoffMs = reconnectBackoff(consumer: consumer, cursor: after)
        return r
    }

    // MARK: Introspection

    public func fanout(limit: Int) -> SyncV1.KhalaFanoutResponse {
        var out = SyncV1.KhalaFanoutResponse()
        out.driver = driver.name
        out.externalHooks = driver.externalHooks
        let followed = hub.followedTopics()
        for (name, subscribers) in followed.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }).prefix(limit) {
            let topic = KhalaTopic(name)
            let w = driver.window(topic)
            var t = SyncV1.KhalaTopicWindow()
            t.topic = name
            t.topicClass = topic.className.rawValue
            t.qosTier = config.topicClass(topic.className).qosTier
            t.oldestAvailableCursor = w.oldestAvailableCursor
            t.headCursor = w.headCursor
            t.queueDepth = w.queueDepth
            t.droppedMessages = w.droppedMessages
            t.subscribers = UInt32(subscribers)
            out.topics.append(t)
        }
        for c in config.classes {
            var k = SyncV1.KhalaClassCounters()
            k.topicClass = c.name.rawValue
            k.qosTier = c.qosTier
            k.replayBudgetEvents = c.replayBudgetEvents
            k.publishRatePerSecond = c.publishRatePerSecond
            k.maxPayloadBytes = c.maxPayloadBytes
            let v = counters.snapshot(c.name)
            k.polls = v.polls
            k.deliveredMessages = v.delivered
            k.staleCursors = v.staleCursors
            k.slowConsumerEvictions = v.evictions
            k.rateLimited = v.rateLimited
            out.classes.append(k)
        }
        return out
    }

    /// The counters in Prometheus text, for `/metrics`.
    public func prometheus() -> String {
        var out = "# TYPE khala_polls_total counter\n# TYPE khala_delivered_messages_total counter\n# TYPE khala_stale_cursors_total counter\n"
        out += "# TYPE khala_slow_consumer_evictions_total counter\n# TYPE khala_rate_limited_total counter\n# TYPE khala_ws_subscribers gauge\n"
        for c in TopicClass.Name.allCases {
            let v = counters.snapshot(c)
            let l = "{topic_class=\"\(c.rawValue)\"}"
            out += "khala_polls_total\(l) \(v.polls)\nkhala_delivered_messages_total\(l) \(v.delivered)\nkhala_stale_cursors_total\(l) \(v.staleCursors)\n"
            out += "khala_slow_consumer_evictions_total\(l) \(v.evictions)\nkhala_rate_limited_total\(l) \(v.rateLimited)\n"
        }
        out += "khala_ws_subscribers \(hub.subscriberCount)\n"
        return out
    }
}

/// Per-class counters (polls, delivered messages, stale cursors, evictions, guard hits).
public final class KhalaCounters: Sendable {
    public struct Values: Sendable {
        public var published: UInt64 = 0
        public var polls: UInt64 = 0, delivered: UInt64 = 0, staleCursors: UInt64 = 0, evictions: UInt64 = 0, rateLimited: UInt64 = 0
    }
    private let values = Mutex<[TopicClass.Name: Values]>([:])
    func add(_ c: TopicClass.Name, _ field: WritableKeyPath<Values, UInt64>, _ n: UInt64 = 1) {
        values.withLock { $0[c, default: Values()][keyPath: field] += n }
    }
    public func snapshot(_ c: TopicClass.Name) -> Values { values.withLock { $0[c] ?? Values() } }
}
