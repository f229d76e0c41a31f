import Dispatch
import Foundation
import APIRuntime
import Generated
import PostgresClient

/// The runtime's durable core wired together: the ledger (authority over runs,
/// events and workers) and the projector that follows its committed records.
public final class RuntimeCore: Sendable {
    /// The embedded backend (its recovery facts, snapshots), when it is the one in use.
    public let ledger: RuntimeLedger?
    /// The PostgreSQL backend, when `--database-url` selects it.
    public let database: PostgresStore?
    /// What everything above storage uses.
    public let store: any RuntimeStore
    /// The read models: this process's `Projector`, or on PostgreSQL the one every instance shares.
    public let projector: any Projections
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
                retentionEvents: UInt64 = 0, database: PostgresStore? = nil) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let store: any RuntimeStore
        if let database {
            ledger = nil
            store = database
        } else {
            let ledger = try RuntimeLedger(path: eventLog, syncEachAppend: syncEachAppend, cacheRecords: cacheRecords, snapshotEvery: snapshotEvery,
                                           segmentBytes: segmentBytes)
            self.ledger = ledger
            store = ledger
        }
        self.database = database
        self.store = store
        if let database {
            projector = PostgresProjections(store: database)
        } else {
            let projector = Projector(path: checkpointPath)
            // Subscribed before the catch-up starts and before any request can
            // arrive, so no batch is missed (one the catch-up covered is a no-op).
            store.subscribe { projector.enqueue($0) }
            projector.start(catchingUpWith: store)
            self.projector = projector
        }
        let streams = RunStreamHub(ledger: store, heartbeatMs: streamHeartbeatMs)
        self.streams = streams
        store.subscribe { streams.publish($0) }
        tools = ToolExecutor(ledger: store, provider: codingProvider)
        self.khala = try Khala(config: khala, store: store, retention: retentionEvents,
                               authorizer: syncTokenKey.map { SyncAuthorizer(key: $0, config: khala) },
                               topicsPath: (eventLog as NSString).deletingLastPathComponent + "/khala-topics.jsonl")
        recoverySeconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    }

    /// The backend `config` selects: PostgreSQL when it names a database, else the embedded log.
    public convenience init(config: ServiceConfig) throws {
        let database = try config.postgres(environment: ProcessInfo.processInfo.environment).map {
            try PostgresStore(config: $0, writers: config.databaseWriters, poolSize: config.databasePool)
        }
        try self.init(eventLog: config.eventLog, checkpointPath: config.checkpointPath, syncEachAppend: config.syncEachAppend,
                      streamHeartbeatMs: config.streamHeartbeatMs, snapshotEvery: config.snapshotEveryRecords, cacheRecords: config.eventCacheRecords,
                      segmentBytes: config.segmentBytes, khala: config.khala,
                      syncTokenKey: try config.syncTokenKey ?? SyncAuthorizer.loadKey(environment: ProcessInfo.processInfo.environment, dataDirectory: config.dataDirectory),
                      retentionEvents: config.streamRetentionEvents, database: database)
    }
}
