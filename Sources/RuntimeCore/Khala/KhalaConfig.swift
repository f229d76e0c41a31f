import ProtoWire
import APIRuntime

/// One topic class of reference-system.md 2.6: which topics it holds and the
/// limits they share. The table below is the only place they are declared.
public struct TopicClass: Sendable, Equatable {
    public enum Name: String, Sendable, CaseIterable {
        case runEvents = "run_events", workerLifecycle = "worker_lifecycle", codexWorkerEvents = "codex_worker_events", fallback
    }
    public var name: Name
    public var qosTier: String
    public var replayBudgetEvents: UInt64
    public var publishRatePerSecond: UInt32
    public var maxPayloadBytes: UInt64

    /// The defaults, overridable by `RUNTIME_KHALA_<CLASS>_{REPLAY_BUDGET_EVENTS,PUBLISH_RATE_PER_SECOND,MAX_PAYLOAD_BYTES}`.
    public static let defaults: [TopicClass] = [
        TopicClass(name: .runEvents, qosTier: "warm", replayBudgetEvents: 20_000, publishRatePerSecond: 240, maxPayloadBytes: 262_144),
        TopicClass(name: .workerLifecycle, qosTier: "warm", replayBudgetEvents: 10_000, publishRatePerSecond: 180, maxPayloadBytes: 65_536),
        TopicClass(name: .codexWorkerEvents, qosTier: "hot", replayBudgetEvents: 3_000, publishRatePerSecond: 240, maxPayloadBytes: 131_072),
        TopicClass(name: .fallback, qosTier: "cold", replayBudgetEvents: 500, publishRatePerSecond: 90, maxPayloadBytes: 65_536),
    ]
}

/// Khala's settings: the class table as configured and the poll rules' numbers.
public struct KhalaConfig: Sendable {
    public var classes = TopicClass.defaults
    public var enforceOrigin = true
    public var allowedOrigins: Set<String> = ["https://openagents.com", "https://www.openagents.com"]
    public var pollDefaultLimit: UInt32 = 100
    public var pollMaxLimit: UInt32 = 200
    public var outboundQueueLimit: UInt32 = 200
    public var fairTopicSliceLimit: UInt32 = 50
    /// The driver's own cap, whatever the other limits say.
    public static let driverHardCap: UInt32 = 500
    public var pollMinIntervalMs: UInt64 = 250
    public var slowConsumerLagThreshold: UInt64 = 300
    public var slowConsumerMaxStrikes: UInt32 = 3
    /// A topic counts as one of the principal's active topics for this long after its last poll.
    public var activeTopicWindowMs: UInt64 = 60_000
    public var reconnectBackoffBaseMs: UInt32 = 400
    public var reconnectJitterMs: UInt32 = 250

    public var syncIssuer = "https://openagents.com"
    public var syncAudience = "openagents-sync"
    public var syncMaxAgeSeconds: Int64 = 300
    public var syncRequireJTI = true
    public var revokedJTIs: Set<String> = []

    public init() {}

    public func topicClass(_ name: TopicClass.Name) -> TopicClass { classes.first { $0.name == name } ?? TopicClass.defaults[3] }

    public init(environment env: [String: String]) throws(APIError) {
        self.init()
        func number(_ key: String) throws(APIError) -> UInt64? {
            guard let v = env[key], !v.isEmpty else { return nil }
            guard let n = UInt64(v.whitespaceTrimmed) else { throw APIError.invalidRequest("\(key) must be a non-negative integer") }
            return n
        }
        for i in classes.indices {
            let prefix = "RUNTIME_KHALA_" + classes[i].name.rawValue.uppercased() + "_"
            if let n = try number(prefix + "REPLAY_BUDGET_EVENTS") { classes[i].replayBudgetEvents = max(1, n) }
            if let n = try number(prefix + "PUBLISH_RATE_PER_SECOND") { classes[i].publishRatePerSecond = UInt32(clamping: max(1, n)) }
            if let n = try number(prefix + "MAX_PAYLOAD_BYTES") { classes[i].maxPayloadBytes = max(1, n) }
        }
        if let v = env["RUNTIME_KHALA_ENFORCE_ORIGIN"] { enforceOrigin = !["0", "false", "no"].contains(v.lowercased()) }
        if let v = env["RUNTIME_KHALA_ALLOWED_ORIGINS"] {
            allowedOrigins = Set(v.split(separator: ",").map { $0.whitespaceTrimmed }.filter { !$0.isEmpty })
        }
        if let n = try number("RUNTIME_KHALA_POLL_DEFAULT_LIMIT") { pollDefaultLimit = UInt32(clamping: max(1, n)) }
        if let n = try number("RUNTIME_KHALA_POLL_MAX_LIMIT") { pollMaxLimit = UInt32(clamping: max(1, n)) }
        if let n = try number("RUNTIME_KHALA_OUTBOUND_QUEUE_LIMIT") { outboundQueueLimit = UInt32(clamping: max(1, n)) }
        if let n = try number("RUNTIME_KHALA_FAIR_TOPIC_SLICE_LIMIT") { fairTopicSliceLimit = UInt32(clamping: max(1, n)) }
        if let n = try number("RUNTIME_KHALA_POLL_MIN_INTERVAL_MS") { pollMinIntervalMs = n }
        if let n = try number("RUNTIME_KHALA_SLOW_CONSUMER_LAG_THRESHOLD") { slowConsumerLagThreshold = n }
        if let n = try number("RUNTIME_KHALA_SLOW_CONSUMER_MAX_STRIKES") { slowConsumerMaxStrikes = UInt32(clamping: max(1, n)) }
        if let v = env["RUNTIME_SYNC_TOKEN_ISSUER"], !v.isEmpty { syncIssuer = v }
        if let v = env["RUNTIME_SYNC_TOKEN_AUDIENCE"], !v.isEmpty { syncAudience = v }
        if let n = try number("RUNTIME_SYNC_TOKEN_MAX_AGE_SECONDS") { syncMaxAgeSeconds = Int64(clamping: n) }
        if let v = env["RUNTIME_SYNC_TOKEN_REQUIRE_JTI"] { syncRequireJTI = !["0", "false", "no"].contains(v.lowercased()) }
        if let v = env["RUNTIME_SYNC_REVOKED_JTIS"] {
            revokedJTIs = Set(v.split(separator: ",").map { $0.whitespaceTrimmed }.filter { !$0.isEmpty })
        }
    }
}
