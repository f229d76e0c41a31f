import APIRuntime
import Generated

/// The seam between the runtime's domain and its durable records: what the
/// projector, the SSE hub, the tool pack and the HTTP handlers may ask of
/// storage, and nothing about files. The embedded JSONL log (`RuntimeLedger`)
/// is the first backend; a shared database is the next. Every backend passes
/// the conformance suite (`Tests/ServiceTests/RuntimeStoreConformance.swift`).
///
/// Rules every method keeps:
/// - **Durable before visible.** A write returns only after its record is
///   durable; no read, feed page or subscriber sees a record before that, and
///   a write that fails leaves nothing behind (no record, no seq consumed).
/// - **Conditional.** Each write is checked, in commit order, against what the
///   store holds at that point: idempotency first (same key and same content
///   replays the original with `idempotentReplay`; same key and different
///   content is 409), then `expected_previous_seq` (409 with the actual seq),
///   then the run's state machine (409 `invalid_transition.*`).
/// - **Contiguous.** Run seqs and worker seqs run from 1 without gaps; the
///   change feed gives every committed record once, in commit order.
public protocol RuntimeStore: AnyObject, Sendable {
    // MARK: Conditional appends (each returns once durable)

    /// Creates a run (409 if the id exists) and appends its `run.started` (seq 1).
    func createRun(runID: String, threadID: String, workerID: String, metadata: GoogleProtobuf.Struct?, owner: RuntimeLedger.RunOwner) async throws(APIError) -> RuntimeLedger.Appended
    /// Appends a run event under the rules above. `requireOpen`: a new event for
    /// a terminal run is 409 (a replay is still answered). `keyConflict`: the 409
    /// message when the key was used for different content.
    func append(runID: String, eventType: String, payload: GoogleProtobuf.Value?, idempotencyKey: String, expectedPreviousSeq: UInt64?,
                requireOpen: Bool, keyConflict: String?) async throws(APIError) -> RuntimeLedger.Appended
    /// A `run.cancel_requested`, once: a repeat while canceling or canceled is a replay.
    func cancel(runID: String, reason: String) async throws(APIError) -> RuntimeLedger.Appended
    func registerWorker(id: String, owner: WorkerOwner, workspaceRef: String, codexHomeRef: String, adapter: String, metadata: GoogleProtobuf.Struct?) async throws(APIError) -> RuntimeV1.RuntimeWorker
    func heartbeat(workerID: String, owner: WorkerOwner, metadataPatch: GoogleProtobuf.Struct?) async throws(APIError) -> RuntimeV1.RuntimeWorker
    func setWorkerStatus(workerID: String, owner: WorkerOwner, status: RuntimeV1.RuntimeWorkerStatus, reason: String) async throws(APIError) -> RuntimeV1.RuntimeWorker
    /// Records a delivery event once per `provider::event_id`; true when it was already recorded (409 if it differs).
    func ingestComms(_ event: RuntimeV1.CommsDeliveryEventRequest) async throws(APIError) -> Bool
    /// Records a tool call once per receipt id; an existing one is returned with `replay: true`.
    func recordToolCall(_ call: RuntimeV1.ToolExecutionRecord) async throws(APIError) -> (RuntimeV1.ToolExecutionRecord, replay: Bool)

    // MARK: Heads (committed state, no history read)
    // A backend that reads them over a network throws `unavailable` when it
    // cannot reach its store: a missing record is nil, never an outage.

    func runRecord(_ id: String) throws(APIError) -> RuntimeV1.RuntimeRun?
    var runIDs: [String] { get throws(APIError) }
    func worker(_ id: String) throws(APIError) -> RuntimeV1.RuntimeWorker?
    var workerIDs: [String] { get throws(APIError) }
    func workers(ownedBy owner: WorkerOwner) throws(APIError) -> [RuntimeV1.RuntimeWorker]
    func toolCall(receiptID: String) throws(APIError) -> RuntimeV1.ToolExecutionRecord?
    func budgetSpent(authorizationID: String) throws(APIError) -> UInt64

    // MARK: History (read back from durable storage, paged)

    /// Up to `limit` events of a run after `seq`, oldest first, with the run
    /// record as of the same moment; nil for an unknown run.
    func events(of id: String, after seq: UInt64, limit: Int) throws(APIError) -> (run: RuntimeV1.RuntimeRun, events: [RuntimeV1.RuntimeRunEvent])?
    /// Up to `limit` lifecycle events of a worker after `seq`, oldest first.
    func workerEvents(of id: String, after seq: UInt64, limit: Int) throws(APIError) -> [RuntimeV1.RuntimeWorkerLogEvent]

    // MARK: Change feed

    /// Up to `limit` committed records after `cursor`, in commit order, and the
    /// cursor to continue from (unchanged when there is nothing new). A cursor
    /// stays valid across restarts; one this store never gave is 400.
    func changes(after cursor: ChangeCursor, limit: Int) throws(APIError) -> (records: [RuntimeV1.RuntimeLogRecord], next: ChangeCursor)
    /// As `changes`, keeping only worker lifecycle records of the up to `limit`
    /// read (`read` says how many): the cursor moves past all of them. A reader that wants only those
    /// (Khala's fleet topics) does not pay for decoding the rest.
    func workerChanges(after cursor: ChangeCursor, limit: Int) throws(APIError) -> (records: [RuntimeV1.RuntimeLogRecord], next: ChangeCursor, read: Int)
    /// `handler` receives each committed batch's records, in commit order, once
    /// durable; it runs on the store's thread and must only hand them off.
    func subscribe(_ handler: @escaping @Sendable ([RuntimeV1.RuntimeLogRecord]) -> Void)
}

extension RuntimeStore {
    /// A run with its whole history (receipts and replays need every event).
    public func run(_ id: String) throws(APIError) -> RuntimeLedger.RunState? {
        guard let page = try events(of: id, after: 0, limit: .max) else { return nil }
        return RuntimeLedger.RunState(run: page.run, events: page.events)
    }
}

/// A position in a store's change feed. Opaque to callers: they keep the
/// `token` and hand it back; only the store that issued it reads it.
public struct ChangeCursor: Sendable, Equatable, CustomStringConvertible {
    /// The last record already seen (0: none).
    let lsn: UInt64
    /// Backend-specific position just after that record (the embedded log: its byte offset).
    let position: UInt64

    /// The beginning of the feed.
    public static let start = ChangeCursor(lsn: 0, position: 0)

    init(lsn: UInt64, position: UInt64) {
        self.lsn = lsn
        self.position = position
    }

    public var token: String { "c1.\(lsn).\(position)" }
    public var description: String { token }

    /// Reads a token this type produced (400 for anything else).
    public init(token: String) throws(APIError) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "c1", let lsn = UInt64(parts[1]), let position = UInt64(parts[2]) else {
            throw APIError.invalidRequest("cursor \(token) is not a change feed cursor")
        }
        self.init(lsn: lsn, position: position)
    }
}
