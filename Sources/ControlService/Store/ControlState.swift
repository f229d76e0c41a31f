import APIRuntime
import Generated
import RuntimeCore

/// Everything the control service knows, rebuilt from `control-events.jsonl`
/// at start-up: `apply` is its one transition function (the record log
/// replays through it, the writer evaluates batches on it, readers see it
/// only after a record is durable). Handlers validate an intent against this
/// state and return the records it becomes; `apply` then only re-checks what
/// a damaged or hand-edited file could break.
public struct ControlState: RecordState {
    public typealias Record = ControlV1.ControlLogRecord

    public var lsn: UInt64 = 0
    /// Revocations by key: `sid:<session>`, `user:<user>` (every session of
    /// the user issued at or before `revoked_at`), `device:<user>:<device>`.
    public var revocations: [String: ControlV1.SessionRevoked] = [:]
    /// Sessions opened by email login, by id (tokens are never stored).
    public var sessions: [String: ControlV1.AuthSession] = [:]
    public var challenges: [String: ControlV1.EmailChallengeRecord] = [:]
    public var usedChallenges: Set<String> = []
    public var codexWorkers: [String: ControlV1.CodexWorkerRecord] = [:]
    public var codexEvents: [String: [ControlV1.CodexWorkerEventRecord]] = [:]
    /// Control requests by `worker_id\u{0}request_id`.
    public var codexRequests: [String: ControlV1.CodexControlReceipt] = [:]
    public var threads: [String: ControlV1.ThreadRecord] = [:]
    public var threadMessages: [String: [ControlV1.ThreadMessageRecord]] = [:]
    /// Message seqs by `thread_id\u{0}idempotency_key`.
    public var messageKeys: [String: UInt64] = [:]
    /// Specs and releases by `id@version`.
    public var toolSpecs: [String: ControlV1.ToolSpecRecord] = [:]
    public var skillSpecs: [String: ControlV1.SkillSpecRecord] = [:]
    public var releases: [String: ControlV1.SkillReleaseRecord] = [:]
    /// JSON-RPC sessions by id, and by `user\u{0}idempotency_key`.
    public var rpcSessions: [String: ControlV1.RpcSessionRecord] = [:]
    public var rpcSessionKeys: [String: String] = [:]

    public init() {}

    /// `entries` as the records that follow this state (contiguous lsns, one commit time).
    public func records(_ entries: [Record.Entry], at time: GoogleProtobuf.Timestamp) -> [Record] {
        entries.enumerated().map { i, e in
            var r = Record()
            r.lsn = lsn + UInt64(i) + 1
            r.recordedAt = time
            r.entry = e
            return r
        }
    }

    public static func requestKey(_ worker: String, _ request: String) -> String { worker + "\u{0}" + request }
    public static func messageKey(_ thread: String, _ key: String) -> String { thread + "\u{0}" + key }
    public static func versionKey(_ id: String, _ version: String) -> String { id + "@" + version }

    public mutating func apply(_ record: Record) throws(APIError) {
        guard record.lsn == lsn + 1 else { throw .internalError("lsn \(record.lsn) does not follow \(lsn)") }
        switch record.entry {
        case .sessionRevoked(let r)?:
            revocations[r.key] = r
        case .sessionCreated(let s)?:
            sessions[s.sessionId] = s
        case .challenge(let c)?:
            challenges[c.challengeId] = c
        case .challengeUsed(let u)?:
            usedChallenges.insert(u.challengeId)
        case .codexWorker(let w)?:
            codexWorkers[w.workerId] = w
        case .codexWorkerEvent(let e)?:
            let latest = codexEvents[e.workerId]?.last?.seq ?? 0
            guard codexWorkers[e.workerId] != nil, e.seq == latest + 1 else { throw .internalError("codex worker \(e.workerId) event \(e.seq) does not follow \(latest)") }
            codexEvents[e.workerId, default: []].append(e)
            codexWorkers[e.workerId]?.latestSeq = e.seq
            codexWorkers[e.workerId]?.updatedAt = e.occurredAt
        case .codexRequest(let r)?:
            codexRequests[ControlState.requestKey(r.workerId, r.requestId)] = r
        case .threadMessage(let m)?:
            let latest = threadMessages[m.threadId]?.last?.seq ?? 0
            guard m.seq == latest + 1 else { throw .internalError("thread \(m.threadId) message \(m.seq) does not follow \(latest)") }
            threadMessages[m.threadId, default: []].append(m)
            if !m.idempotencyKey.isEmpty { messageKeys[ControlState.messageKey(m.threadId, m.idempotencyKey)] = m.seq }
            threads[m.threadId]?.messageCount = m.seq
            threads[m.threadId]?.updatedAt = m.createdAt
        case .threadCreated(let t)?:
            guard threads[t.threadId] == nil else { throw .internalError("thread \(t.threadId) created twice") }
            threads[t.threadId] = t
        case .toolSpec(let t)?:
            toolSpecs[ControlState.versionKey(t.toolId, t.version)] = t
        case .skillSpec(let s)?:
            skillSpecs[ControlState.versionKey(s.skillId, s.version)] = s
        case .skillRelease(let r)?:
            let key = ControlState.versionKey(r.skillId, r.version)
            guard releases[key] == nil else { throw .internalError("release \(key) published twice") }
            releases[key] = r
        case .rpcSession(let r)?:
            guard rpcSessions[r.sessionId] == nil else { throw .internalError("rpc session \(r.sessionId) started twice") }
            rpcSessions[r.sessionId] = r
            if !r.idempotencyKey.isEmpty { rpcSessionKeys[ControlState.messageKey(r.ownerUserId, r.idempotencyKey)] = r.sessionId }
        case nil:
            throw .internalError("record \(record.lsn) has no entry")
        }
        lsn = record.lsn
    }
}
