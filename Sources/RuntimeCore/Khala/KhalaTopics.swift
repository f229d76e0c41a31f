import APIRuntime
import Dispatch
import Foundation
import Generated
import PostgresClient
import ProtoWire
import Synchronization

/// The topics Khala keeps itself, in `<data dir>/khala-topics.jsonl`: the
/// fleet topics (`fleet:user:<id>:workers`, `fleet:guest:<scope>:workers`,
/// each with its own contiguous sequence, projected from the runtime log's
/// worker records) and published topics (`runtime.codex_worker_events`,
/// fallback topics). Memory holds each topic's window, capped by its class's
/// replay budget, not the file's length.
public struct KhalaTopicState: RecordState {
    public typealias Record = SyncV1.KhalaTopicRecord

    public struct Topic: Sendable {
        public var head: UInt64 = 0
        /// The retained messages, oldest first (at most the class's replay budget).
        public var window: [SyncV1.FanoutMessage] = []
        /// Idempotency keys of retained published messages: key -> (seq, content hash).
        var keys: [String: (UInt64, UInt64)] = [:]
        var windowKeys: [String] = []
    }

    public var lsn: UInt64 = 0
    public var topics: [String: Topic] = [:]
    /// The runtime log record the fleet projector last projected.
    public var lastSourceLSN: UInt64 = 0
    /// Where the fleet projector resumes in the runtime's change feed.
    public var feedCursor = ""
    /// Control-service revocations by key (`sid:`, `user:`, `device:`), with when.
    public var revocations: [String: Int64] = [:]
    /// Window caps by class (the replay budgets, from the environment as `serve` reads it).
    static let caps: KhalaConfig = (try? KhalaConfig(environment: ProcessInfo.processInfo.environment)) ?? KhalaConfig()

    public init() {}

    public mutating func apply(_ r: Record) throws(APIError) {
        guard r.lsn == lsn + 1 else { throw .internalError("lsn \(r.lsn) does not follow \(lsn)") }
        lsn = r.lsn
        if r.sourceLsn > lastSourceLSN { lastSourceLSN = r.sourceLsn }
        if !r.feedCursor.isEmpty { feedCursor = r.feedCursor }
        if let v = r.revocation, !v.key.isEmpty {
            revocations[v.key] = max(revocations[v.key] ?? 0, v.revokedAtUnix)
            // A token older than the maximum age is refused anyway: older revocations need not be kept.
            let horizon = Int64(Date().timeIntervalSince1970) - max(3600, Self.caps.syncMaxAgeSeconds * 2)
            if revocations.count > 1024 { revocations = revocations.filter { $0.value >= horizon } }
        }
        guard let m = r.message else { return }
        var t = topics[m.topic] ?? Topic()
        guard m.sequence == t.head + 1 else { throw .internalError("topic \(m.topic) sequence \(m.sequence) does not follow \(t.head)") }
        t.head = m.sequence
        t.window.append(m)
        t.windowKeys.append(r.idempotencyKey)
        if !r.idempotencyKey.isEmpty { t.keys[r.idempotencyKey] = (m.sequence, Self.contentHash(m)) }
        let cap = Int(Self.caps.topicClass(KhalaTopic(m.topic).className).replayBudgetEvents)
        if t.window.count > cap {
            let drop = t.window.count - cap
            for k in t.windowKeys.prefix(drop) where !k.isEmpty { t.keys[k] = nil }
            t.window.removeFirst(drop)
            t.windowKeys.removeFirst(drop)
        }
        topics[m.topic] = t
    }

    /// FNV-1a over the kind and the payload's deterministic JSON: what a replay must match.
    static func contentHash(_ m: SyncV1.FanoutMessage) -> UInt64 { contentHash(m.kind, payloadJSON(m)) }

    static func contentHash(_ kind: String, _ payload: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in Array(kind.utf8) + [0] + payload { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }

    /// The payload's deterministic JSON: what the hash covers and the size limit measures.
    static func payloadJSON(_ m: SyncV1.FanoutMessage) -> [UInt8] {
        (try? m.payload?.jsonBytes(options: JSONEncodingOptions(deterministic: true))) ?? []
    }

    public func window(_ topic: String) -> TopicWindow {
        var w = TopicWindow()
        guard let t = topics[topic], t.head > 0 else { return w }
        let retained = UInt64(t.window.count)
        w.headCursor = t.head
        w.oldestAvailableCursor = t.head - retained
        w.queueDepth = retained
        w.droppedMessages = t.head - retained
        return w
    }

    public func messages(_ topic: String, after seq: UInt64, limit: Int) -> [SyncV1.FanoutMessage] {
        guard let t = topics[topic], let first = t.window.first else { return [] }
        let start = seq < first.sequence ? 0 : Int(seq - first.sequence + 1)
        guard start < t.window.count else { return [] }
        return Array(t.window[start..<min(t.window.count, start + limit)])
    }
}

public final class KhalaTopics: Sendable {
    let log: RecordLog<KhalaTopicState>
    let store: any RuntimeStore
    let config: KhalaConfig
    /// Messages published per topic in the current one-second window.
    private let rates = Mutex<[String: (window: UInt64, count: UInt32)]>([:])
    private let wake = DispatchSemaphore(value: 0)

    /// With shared topics, exactly one instance runs the fleet projection (the
    /// others' attempts would commit nothing, see `project`, but still read the feed).
    let lease: PostgresLease?
    /// The lease's key: `'oa.fleet'` as a number.
    static let fleetLeaseKey: Int64 = 0x6f61_2e66_6c65_6574

    /// `database`: the topics live in PostgreSQL (shared by every instance) instead of the file at `path`.
    public init(path: String, store: any RuntimeStore, config: KhalaConfig, database: PostgresConfig? = nil) throws {
        log = try database.map { try RecordLog<KhalaTopicState>(database: $0, log: "khala_topics") } ?? RecordLog<KhalaTopicState>(path: path)
        lease = database.map { PostgresLease(config: $0, key: Self.fleetLeaseKey) }
        self.store = store
        self.config = config
        store.subscribe { [wake] records in
            if records.contains(where: { $0.isWorkerEvent }) { wake.signal() }
        }
        let t = Thread { [self] in self.project() }
        t.name = "khala-fleet"
        t.start()
        wake.signal()
    }

    public func subscribe(_ handler: @escaping @Sendable ([KhalaTopic]) -> Void) {
        log.subscribe { records in handler(records.compactMap { $0.message.map { KhalaTopic($0.topic) } }) }
    }

    public func window(_ topic: String) -> TopicWindow { log.read { $0.window(topic) } }
    public func messages(_ topic: String, after seq: UInt64, limit: Int) -> [SyncV1.FanoutMessage] { log.read { $0.messages(topic, after: seq, limit: limit) } }

    // MARK: Revocations

    /// Whether a control-service revocation covers the token.
    public func isRevoked(_ p: SyncPrincipal) -> Bool {
        log.read { s in
            if s.revocations.isEmpty { return false }
            if !p.sessionID.isEmpty, s.revocations["sid:" + p.sessionID] != nil { return true }
            if !p.userID.isEmpty, let at = s.revocations["user:" + p.userID], p.issuedAt <= at { return true }
            if !p.userID.isEmpty, !p.deviceID.isEmpty, let at = s.revocations["device:\(p.userID):\(p.deviceID)"], p.issuedAt <= at { return true }
            return false
        }
    }

    public func record(_ revocations: [SyncV1.SyncRevocation]) async throws(APIError) -> Int {
        let valid = revocations.filter { !$0.key.isEmpty }
        guard !valid.isEmpty else { return 0 }
        let at = RuntimeLedger.timestamp()
        return try await log.commit { (state: KhalaTopicState) throws(APIError) -> (records: [SyncV1.KhalaTopicRecord], answer: Int) in
            let records = valid.enumerated().map { i, v in
                var r = SyncV1.KhalaTopicRecord()
                r.lsn = state.lsn + UInt64(i) + 1
                r.recordedAt = at
                r.revocation = v
                return r
            }
            return (records, records.count)
        }
    }

    // MARK: Publishing

    /// Publishes under the class's limits: a replay of the same key and content
    /// first (no limit spent), then the payload size (413), then the publish
    /// rate (429 with `retry_after_ms`); durable before it returns.
    public func publish(topic name: String, kind: String, payload: GoogleProtobuf.Value?, idempotencyKey key: String) async throws(KhalaError) -> (SyncV1.FanoutMessage, replay: Bool) {
        let topic = KhalaTopic(name)
        switch topic {
        case .run, .worker, .fleetUser, .fleetGuest:
            throw KhalaError(400, "invalid_request", "topic \(name) is derived from the runtime's log and cannot be published to")
        case .codexWorkerEvents, .other:
            break
        }
        guard !name.isEmpty, !kind.whitespaceTrimmed.isEmpty else { throw KhalaError(400, "invalid_request", "topic and kind are required") }
        var m = SyncV1.FanoutMessage()
        m.topic = name
        m.kind = kind
        m.payload = payload
        let payloadJSON = KhalaTopicState.payloadJSON(m)
        let hash = KhalaTopicState.contentHash(m.kind, payloadJSON)
        if !key.isEmpty, let replay = try replayOf(name, key, hash) { return (replay, true) }
        let cls = config.topicClass(topic.className)
        let size = UInt64(payloadJSON.count)
        guard size <= cls.maxPayloadBytes else {
            throw KhalaError(413, "khala_frame_payload_too_large", "payload of \(size) bytes is over the \(cls.name.rawValue) limit of \(cls.maxPayloadBytes)",
                             reasonCode: "payload_too_large")
        }
        let nowMs = DispatchTime.now().uptimeNanoseconds / 1_000_000
        let retry: UInt64? = rates.withLock { r in
            let window = nowMs / 1000
            var e = r[name] ?? (window, 0)
            if e.window != window { e = (window, 0) }
            guard e.count < cls.publishRatePerSecond else { return (window + 1) * 1000 - nowMs }
            e.count += 1
            r[name] = e
            if r.count > 10_000 { r = r.filter { $0.value.window == window } }
            return nil
        }
        if let retry {
            throw KhalaError(429, "khala_publish_rate_limited", "topic \(name) is over \(cls.publishRatePerSecond) messages per second",
                             reasonCode: "publish_rate_limited", retryAfterMs: UInt32(clamping: max(1, retry)))
        }
        let at = RuntimeLedger.timestamp()
        let result: Result<(SyncV1.FanoutMessage, Bool), APIError> = await { () async -> Result<(SyncV1.FanoutMessage, Bool), APIError> in
            do {
                return .success(try await log.commit { (state: KhalaTopicState) throws(APIError) -> (records: [SyncV1.KhalaTopicRecord], answer: (SyncV1.FanoutMessage, Bool)) in
                    if !key.isEmpty, let (seq, h) = state.topics[name]?.keys[key] {
                        guard h == hash else { throw APIError.conflict("idempotency key \(key) was used with other content") }
                        if let first = state.messages(name, after: seq - 1, limit: 1).first { return ([], (first, true)) }
                    }
                    var msg = m
                    msg.sequence = (state.topics[name]?.head ?? 0) + 1
                    msg.publishedAt = at
                    var r = SyncV1.KhalaTopicRecord()
                    r.lsn = state.lsn + 1
                    r.recordedAt = at
                    r.message = msg
                    r.idempotencyKey = key
                    return ([r], (msg, false))
                })
            } catch { return .failure((error as? APIError) ?? APIError.internalError("\(error)")) }
        }()
        switch result {
        case .success(let (msg, replay)): return (msg, replay)
        case .failure(let e) where e.kind == .conflict: throw KhalaError(409, "conflict", e.message)
        case .failure(let e): throw KhalaError(503, "service_unavailable", e.message)
        }
    }

    private func replayOf(_ topic: String, _ key: String, _ hash: UInt64) throws(KhalaError) -> SyncV1.FanoutMessage? {
        let found: (UInt64, UInt64, SyncV1.FanoutMessage?)? = log.read { s in
            guard let (seq, h) = s.topics[topic]?.keys[key] else { return nil }
            return (seq, h, s.messages(topic, after: seq - 1, limit: 1).first)
        }
        guard let (_, h, message) = found else { return nil }
        guard h == hash else { throw KhalaError(409, "conflict", "idempotency key \(key) was used with other content") }
        return message
    }

    // MARK: The fleet projection

    static func fleetTopic(_ w: RuntimeV1.RuntimeWorker) -> KhalaTopic? {
        if !w.ownerUserRef.isEmpty { return .fleetUser(w.ownerUserRef) }
        let g = w.ownerGuestScope.whitespaceTrimmed
        return g.isEmpty ? nil : .fleetGuest(g)
    }

    /// Follows the runtime's change feed: each worker record becomes the next
    /// message of its owner's fleet topic, committed with the feed cursor it
    /// was read after and its source lsn, so a crash anywhere re-reads the page
    /// and projects nothing twice.
    private func project() {
        var sinceCheckpoint = 0
        // How far past the durable cursor this projector has read pages that held
        // no worker record (so that the next wake-up does not read them again),
        // and the durable cursor it was ahead of: if that moved (another instance
        // projected), the skip is forgotten.
        var skipped: (over: String, to: ChangeCursor)?
        while true {
            _ = wake.wait(timeout: .now() + .seconds(1))
            if let lease, !lease.isHeld { skipped = nil; continue }
            while true {
                let (cursorText, lastSource) = log.read { ($0.feedCursor, $0.lastSourceLSN) }
                let durable: ChangeCursor
                if cursorText.isEmpty { durable = .start } else if let c = try? ChangeCursor(token: cursorText) { durable = c } else { return }
                if skipped?.over != cursorText { skipped = nil; sinceCheckpoint = 0 }
                let after = skipped?.to ?? durable
                guard let page = try? store.workerChanges(after: after, limit: 1024), page.next != after else { break }
                var pending: [(lsn: UInt64, event: RuntimeV1.RuntimeWorkerLogEvent)] = []
                for r in page.records where r.lsn > lastSource {
                    if case .workerEvent(let e)? = r.entry { pending.append((r.lsn, e)) }
                }
                sinceCheckpoint += page.read
                if pending.isEmpty && sinceCheckpoint < 8192 {
                    skipped = (cursorText, page.next)
                    if page.read < 1024 { break } else { continue }
                }
                let at = RuntimeLedger.timestamp()
                let resumeAfter = pending.isEmpty ? page.next.token : after.token
                let projected = pending
                let done: Bool = blockingCommit { (state: KhalaTopicState) throws(APIError) -> (records: [SyncV1.KhalaTopicRecord], answer: Bool) in
                    // Another instance (sharing the topics in PostgreSQL) projected from this cursor first: its records stand.
                    guard state.feedCursor == cursorText else { return ([], true) }
                    var records: [SyncV1.KhalaTopicRecord] = []
                    var heads: [String: UInt64] = [:]
                    for (lsn, e) in projected where lsn > state.lastSourceLSN {
                        guard let w = e.worker, let topic = Self.fleetTopic(w) else { continue }
                        let head = heads[topic.name] ?? state.topics[topic.name]?.head ?? 0
                        var m = KhalaMessages.message(topic.name, e)
                        m.sequence = head + 1
                        heads[topic.name] = head + 1
                        var r = SyncV1.KhalaTopicRecord()
                        r.lsn = state.lsn + UInt64(records.count) + 1
                        r.recordedAt = at
                        r.message = m
                        r.sourceLsn = lsn
                        r.feedCursor = resumeAfter
                        records.append(r)
                    }
                    // A page with no worker record (or only ones projected before) moves the cursor on.
                    var checkpoint = SyncV1.KhalaTopicRecord()
                    checkpoint.lsn = state.lsn + UInt64(records.count) + 1
                    checkpoint.recordedAt = at
                    checkpoint.feedCursor = page.next.token
                    checkpoint.sourceLsn = projected.last?.lsn ?? 0
                    records.append(checkpoint)
                    return (records, true)
                }
                guard done else { return }
                sinceCheckpoint = 0
                skipped = nil
            }
        }
    }

    /// `log.commit` from the projector's thread.
    private func blockingCommit(_ intent: @escaping @Sendable (KhalaTopicState) throws(APIError) -> (records: [SyncV1.KhalaTopicRecord], answer: Bool)) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let ok = Atomic<Bool>(false)
        Task {
            if (try? await log.commit(intent)) == true { ok.store(true, ordering: .relaxed) }
            done.signal()
        }
        done.wait()
        return ok.load(ordering: .relaxed)
    }
}
