import Foundation
import Generated

/// The runtime's durable core wired together: the ledger (authority over runs,
/// events and workers) and the projector that follows its committed records.
public final class RuntimeCore: Sendable {
    public let ledger: RuntimeLedger
    public let projector: Projector

    /// Recovers from the event log and the checkpoint file; the projector
    /// catches up on its own thread (`/readyz` reports when it has).
    public init(eventLog: String, checkpointPath: String?, syncEachAppend: Bool = false) throws {
        let records = try LogFile.load(path: eventLog)
        ledger = try RuntimeLedger(path: eventLog, records: records, syncEachAppend: syncEachAppend)
        projector = Projector(path: checkpointPath)
        let projector = self.projector
        // Subscribed before any new write can commit, so no batch is missed.
        ledger.subscribe { projector.enqueue($0) }
        projector.start(recovered: records)
    }

    public convenience init(config: ServiceConfig) throws {
        try self.init(eventLog: config.eventLog, checkpointPath: config.checkpointPath, syncEachAppend: config.syncEachAppend)
    }
}
