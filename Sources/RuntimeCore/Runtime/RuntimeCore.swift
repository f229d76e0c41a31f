import Dispatch
import Foundation
import Generated

/// The runtime's durable core wired together: the ledger (authority over runs,
/// events and workers) and the projector that follows its committed records.
public final class RuntimeCore: Sendable {
    /// The embedded backend (its recovery facts, snapshots).
    public let ledger: RuntimeLedger
    /// What everything above storage uses.
    public var store: any RuntimeStore { ledger }
    public let projector: Projector
    /// Wakes SSE readers on committed run events.
    public let streams: RunStreamHub
    /// tools/execute, over the in-repo fake GitHub provider unless given another.
    public let tools: ToolExecutor
    /// Khala topics over the store: polling rules, ACLs and the WebSocket hub.
    public let khala: Khala
    /// How long start-up took to read the log and rebuild state from it.
    public let recoverySeconds: Double

    /// Recovers from the event log and the checkpoint file; the projector
    /// catches up on its own thread (`/readyz` reports when it has).
    public init(eventLog: String, checkpointPath: String?, syncEachAppend: Bool = false, streamHeartbeatMs: UInt64 = 15_000,
                snapshotEvery: Int = 100_000, cacheRecords: Int = 8192, segmentBytes: UInt64 = 256 << 20,
                codingProvider: any CodingProvider = FakeCodingProvider(), khala: KhalaConfig = KhalaConfig(), syncTokenKey: [UInt8]? = nil,
                retentionEvents: UInt64 = 0) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        ledger = try RuntimeLedger(path: eventLog, syncEachAppend: syncEachAppend, cacheRecords: cacheRecords, snapshotEvery: snapshotEvery,
                                   segmentBytes: segmentBytes)
        let projector = Projector(path: checkpointPath)
        // Subscribed before the catch-up starts and before any request can
        // arrive, so no batch is missed (one the catch-up covered is a no-op).
        ledger.subscribe { projector.enqueue($0) }
        let streams = RunStreamHub(ledger: ledger, heartbeatMs: streamHeartbeatMs)
        self.streams = streams
        ledger.subscribe { streams.publish($0) }
        projector.start(catchingUpWith: ledger)
        self.projector = projector
        tools = ToolExecutor(ledger: ledger, provider: codingProvider)
        self.khala = try Khala(config: khala, store: ledger, retention: retentionEvents,
                               authorizer: syncTokenKey.map { SyncAuthorizer(key: $0, config: khala) },
                               topicsPath: (eventLog as NSString).deletingLastPathComponent + "/khala-topics.jsonl")
        recoverySeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    public convenience init(config: ServiceConfig) throws {
        try self.init(eventLog: config.eventLog, checkpointPath: config.checkpointPath, syncEachAppend: config.syncEachAppend,
                      streamHeartbeatMs: config.streamHeartbeatMs, snapshotEvery: config.snapshotEveryRecords, cacheRecords: config.eventCacheRecords,
                      segmentBytes: config.segmentBytes, khala: config.khala,
                      syncTokenKey: try config.syncTokenKey ?? SyncAuthorizer.loadKey(environment: ProcessInfo.processInfo.environment, dataDirectory: config.dataDirectory),
                      retentionEvents: config.streamRetentionEvents)
    }
}
