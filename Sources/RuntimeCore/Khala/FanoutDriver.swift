import APIRuntime
import Generated
import ProtoWire

/// A topic's retained window: what a cursor can still resume from.
public struct TopicWindow: Sendable, Equatable {
    /// The oldest resumable `after_seq` (oldest retained seq - 1); nil for an empty or unknown topic.
    public var oldestAvailableCursor: UInt64?
    public var headCursor: UInt64?
    public var queueDepth: UInt64 = 0
    public var droppedMessages: UInt64 = 0
    public init() {}
}

/// The fan-out seam (the earlier system's `FanoutDriver`): where topic
/// messages come from. The embedded driver derives every topic from the
/// store's committed records; a shared-database driver is the next one.
public protocol FanoutDriver: Sendable {
    /// Named by `/healthz`, `/readyz` and every poll answer.
    var name: String { get }
    /// The drivers this build knows but has not configured, as `name=state`.
    var externalHooks: [String] { get }
    func window(_ topic: KhalaTopic) -> TopicWindow
    /// Up to `limit` messages after `seq`, in sequence order (never more than the driver's cap).
    func poll(_ topic: KhalaTopic, after seq: UInt64, limit: Int) throws(APIError) -> [SyncV1.FanoutMessage]
}

/// Topics read straight from the runtime store: `run:<id>:events` is the
/// run's events (seq = run seq, window above the run's retention floor),
/// `worker:<id>:lifecycle` the worker's lifecycle events (seq = worker seq);
/// fleet and published topics come from Khala's own log (`KhalaTopics`).
/// Nothing is copied into memory, so a restart loses nothing and memory does
/// not grow with topics; recent events come from the store's cache.
public struct EmbeddedFanout: FanoutDriver {
    let store: any RuntimeStore
    /// Events a run keeps above its retention floor (0: all).
    let retention: UInt64
    /// Fleet and published topics (`khala-topics.jsonl`).
    let topics: KhalaTopics?
    /// Whether the store is PostgreSQL, shared with other instances.
    let shared: Bool
    public init(store: any RuntimeStore, retention: UInt64, topics: KhalaTopics? = nil) {
        self.store = store
        shared = store is PostgresStore
        self.retention = retention
        self.topics = topics
    }

    /// Over PostgreSQL the same reads serve every instance; what differs is how
    /// an instance learns of another's commits (LISTEN/NOTIFY wake-ups of the
    /// store's feed follower, which feeds the hub like local commits do).
    public var name: String { shared ? "postgres_notify" : "embedded" }
    public var externalHooks: [String] { shared ? ["postgres_notify=listening"] : ["postgres_notify=not_configured"] }

    public func window(_ topic: KhalaTopic) -> TopicWindow {
        var w = TopicWindow()
        let head: UInt64
        var floor: UInt64 = 0
        switch topic {
        case .run(let id):
            guard let run = (try? store.runRecord(id)) ?? nil, run.latestSeq > 0 else { return w }
            head = run.latestSeq
            floor = retention > 0 && head > retention ? head - retention : 0
        case .worker(let id):
            guard let worker = (try? store.worker(id)) ?? nil, worker.latestSeq > 0 else { return w }
            head = worker.latestSeq
        case .fleetUser, .fleetGuest, .codexWorkerEvents, .other:
            return topics?.window(topic.name) ?? w
        }
        w.headCursor = head
        w.oldestAvailableCursor = floor
        w.queueDepth = head - floor
        w.droppedMessages = floor
        return w
    }

    public func poll(_ topic: KhalaTopic, after seq: UInt64, limit: Int) throws(APIError) -> [SyncV1.FanoutMessage] {
        let limit = min(limit, Int(KhalaConfig.driverHardCap))
        guard limit > 0 else { return [] }
        switch topic {
        case .run(let id):
            guard let page = try store.events(of: id, after: seq, limit: limit) else { return [] }
            return page.events.map { KhalaMessages.message(topic.name, $0) }
        case .worker(let id):
            return try store.workerEvents(of: id, after: seq, limit: limit).map { KhalaMessages.message(topic.name, $0) }
        case .fleetUser, .fleetGuest, .codexWorkerEvents, .other:
            return topics?.messages(topic.name, after: seq, limit: limit) ?? []
        }
    }
}

/// The topic message form of a committed record.
public enum KhalaMessages {
    static let payloadOptions = JSONEncodingOptions(emitDefaultValues: true, int64AsNumbers: true, deterministic: true, enumWireWords: true)

    /// A run event: kind is its type, payload the event as the REST API writes it.
    public static func message(_ topic: String, _ e: RuntimeV1.RuntimeRunEvent) -> SyncV1.FanoutMessage {
        var m = SyncV1.FanoutMessage()
        m.topic = topic
        m.sequence = e.seq
        m.kind = e.eventType
        if let json = try? e.jsonBytes(options: payloadOptions), let v = try? GoogleProtobuf.Value(jsonBytes: json) { m.payload = v }
        m.publishedAt = e.emittedAt
        return m
    }

    /// A worker lifecycle event: kind `worker.<status>`, payload the worker's snapshot.
    public static func message(_ topic: String, _ e: RuntimeV1.RuntimeWorkerLogEvent) -> SyncV1.FanoutMessage {
        var m = SyncV1.FanoutMessage()
        m.topic = topic
        m.sequence = e.seq
        let w = e.worker ?? RuntimeV1.RuntimeWorker()
        let status = WorkerRules.name(w.status)
        m.kind = "worker.\(status)"
        let live = WorkerRules.liveness(w)
        var fields: [String: GoogleProtobuf.Value] = [
            "worker_id": JSONValue.string(w.workerId), "status": JSONValue.string(status), "latest_seq": JSONValue.number(Double(e.seq)),
            "heartbeat_state": JSONValue.string(live.heartbeatState), "event_type": JSONValue.string(e.eventType),
            "owner_user_id": JSONValue.string(w.ownerUserRef), "owner_guest_scope": JSONValue.string(w.ownerGuestScope),
            "adapter": JSONValue.string(w.adapter),
        ]
        if let age = live.heartbeatAgeMs { fields["heartbeat_age_ms"] = JSONValue.number(Double(age)) }
        m.payload = JSONValue.object(fields)
        m.publishedAt = e.emittedAt
        return m
    }
}
