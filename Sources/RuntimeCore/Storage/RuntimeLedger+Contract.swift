import APIRuntime
import Generated

/// The `/internal/v1` contract's writes (cancel, comms delivery events, tool
/// calls), validated by the same writer as every other intent.
extension RuntimeLedger {
    static func commsKey(_ e: RuntimeV1.CommsDeliveryEventRequest) -> String { e.provider + "::" + e.eventId }

    // MARK: Cancel

    /// A durable `run.cancel_requested`; once a run is canceling or canceled a
    /// repeat is an idempotent replay (no second event), and a run that already
    /// succeeded or failed cannot be canceled (409, as the state machine says).
    public func cancel(runID: String, reason: String) async throws(APIError) -> Appended {
        try await submit(.cancel(runID: runID, reason: reason)).appended()
    }

    // MARK: Comms delivery events

    /// Deduplicated by `provider::event_id`: the same event again is a replay,
    /// the same id with anything different is 409.
    public func ingestComms(_ event: RuntimeV1.CommsDeliveryEventRequest) async throws(APIError) -> Bool {
        try await submit(.comms(event)).recordedBefore()
    }

    // MARK: Tool calls

    public func toolCall(receiptID: String) -> RuntimeV1.ToolExecutionRecord? { readCommitted { $0.toolCalls[receiptID] } }
    public func budgetSpent(authorizationID: String) -> UInt64 { readCommitted { $0.budgetSpent[authorizationID] ?? 0 } }

    /// Records a tool call; one already recorded under its receipt id is
    /// returned instead (`replay: true`). Budget checks happen before the call
    /// runs, serialized per authorization (`ToolPack`), so recording only adds
    /// the charge.
    public func recordToolCall(_ call: RuntimeV1.ToolExecutionRecord) async throws(APIError) -> (RuntimeV1.ToolExecutionRecord, replay: Bool) {
        try await submit(.tool(call)).recordedTool()
    }

}
