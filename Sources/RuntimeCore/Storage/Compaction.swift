import APIRuntime
import Foundation
import Generated
import Glibc
import Synchronization

/// What one compaction removed.
public struct CompactionReport: Sendable, Equatable {
    public var segments = 0
    public var bytes: UInt64 = 0
    public var events: UInt64 = 0
}

/// Compaction: whole closed segments that hold only run events at or below
/// their run's retention floor (`latest_seq - retention`, the floor the
/// stream's 410 already enforces) and none that changes a run's status are
/// removed. Everything else (run creations, worker events, delivery events,
/// tool calls, any event above a floor) keeps its segment. The removal is
/// recorded first, in `<log>.compacted`, so a rebuild from the remaining
/// segments steps over each gap knowing exactly which seqs it skips; an event
/// whose segment is gone reads as 410 `stale_cursor`, and its idempotency key
/// is forgotten with it (keys are remembered while their event is retained).
extension RuntimeLedger {
    /// Marks an event offset whose segment was removed.
    static let compacted = UInt64.max

    static func compactionPath(_ log: String) -> String { log + ".compacted" }

    static func compactedError(_ offset: UInt64) -> APIError {
        APIError(.staleCursor, "stale_cursor", offset == compacted ? "the event was compacted away (it was below its run's retention floor)"
                                                                   : "byte \(offset) of the event log is in a segment that was compacted away")
    }

    /// The removals recorded beside the log (none: an empty manifest). Unlike
    /// a snapshot it cannot be rebuilt, so a damaged one stops start-up.
    static func readCompaction(_ log: String) throws -> RuntimeV1.LogCompaction {
        let path = compactionPath(log)
        do {
            guard let payload = try SnapshotFile.payload(path, magic: SnapshotFile.compactionMagic) else { return RuntimeV1.LogCompaction() }
            return try RuntimeV1.LogCompaction(serializedBytes: payload)
        } catch {
            throw APIError.internalError("\(path) is damaged (\(error)); it records which log segments were removed, so the log cannot be read without it")
        }
    }

    /// Finishes a compaction a crash interrupted: segments the manifest names
    /// as removed but still on disk are removed now, before anything reads them.
    static func finishCompaction(_ log: String, _ manifest: RuntimeV1.LogCompaction) {
        var removed = false
        for d in manifest.dropped {
            let file = LogSegments.path(log, base: d.base)
            if FileManager.default.fileExists(atPath: file), LogSegments.size(file) == d.end - d.base {
                unlink(file)
                removed = true
            }
        }
        if removed { _ = FileIO.syncDirectory(of: log) }
    }

    /// Removes every closed segment that holds only events below their run's
    /// floor for `retention` (0: every event is resumable, nothing is removed).
    /// Safe while appends go on: only closed segments are looked at, floors
    /// only rise, and the manifest is durable before memory forgets anything
    /// or any file goes.
    public func compact(retention: UInt64) throws -> CompactionReport {
        try compacting.withLock { _ in
            var report = CompactionReport()
            guard retention > 0 else { return report }
            let latest = readCommitted { store in store.runs.mapValues { $0.run.latestSeq } }
            let bases = reader.segmentBases
            var dropped: [RuntimeV1.DroppedSegment] = []
            for (i, base) in bases.enumerated() where i + 1 < bases.count {
                let file = LogSegments.path(path, base: base)
                if let d = try RuntimeLedger.droppable(file, base: base, end: bases[i + 1], latest: latest, retention: retention) { dropped.append(d) }
            }
            guard !dropped.isEmpty else { return report }
            var manifest = try RuntimeLedger.readCompaction(path)
            manifest.dropped += dropped
            try FileIO.writeAtomically(SnapshotFile.encode(manifest.serializedBytes(), magic: SnapshotFile.compactionMagic), to: RuntimeLedger.compactionPath(path))
            updateCommitted { store in for d in dropped { store.forget(d) } }
            for d in dropped {
                reader.drop(base: d.base)
                unlink(LogSegments.path(path, base: d.base))
                report.segments += 1
                report.bytes += d.end - d.base
                report.events += d.lastLsn - d.firstLsn + 1
            }
            _ = FileIO.syncDirectory(of: path)
            // The next start-up should not need the old snapshot's offsets reconciled.
            if snapshotEvery > 0 { snapshotWake.signal() }
            return report
        }
    }

    /// The removal record for the segment at `file`, or nil if anything in it must stay.
    static func droppable(_ file: String, base: UInt64, end: UInt64, latest: [String: UInt64], retention: UInt64) throws -> RuntimeV1.DroppedSegment? {
        struct Keep: Error {}
        var d = RuntimeV1.DroppedSegment()
        d.base = base
        d.end = end
        var ranges: [String: (UInt64, UInt64)] = [:]
        var order: [String] = []
        do {
            try LogFile.stream(path: file, truncateTornTail: false) { chunk, _ in
                for r in chunk {
                    guard case .runEvent(let e)? = r.entry, let last = latest[e.runId], last > retention, e.seq <= last - retention,
                          case .success(nil) = Result(catching: { try RunStateMachine.transition(eventType: e.eventType, finishStatus: JSONValue.stringField(e.payloadJson, "status")) })
                    else { throw Keep() }
                    if d.firstLsn == 0 { d.firstLsn = r.lsn }
                    d.lastLsn = r.lsn
                    if let (first, _) = ranges[e.runId] { ranges[e.runId] = (first, e.seq) } else {
                        ranges[e.runId] = (e.seq, e.seq)
                        order.append(e.runId)
                    }
                }
            }
        } catch is Keep { return nil }
        guard d.firstLsn > 0 else { return nil }
        d.runs = order.compactMap { id in
            ranges[id].map { first, last in
                var r = RuntimeV1.DroppedRunRange()
                r.runId = id
                r.firstSeq = first
                r.lastSeq = last
                return r
            }
        }
        return d
    }
}

extension RuntimeLedger.Store {
    /// Forgets what a removed segment held: its events' offsets become
    /// `compacted` and their idempotency keys go.
    mutating func forget(_ d: RuntimeV1.DroppedSegment) {
        for r in d.runs {
            guard r.firstSeq >= 1, r.lastSeq >= r.firstSeq, var head = runs.removeValue(forKey: r.runId) else { continue }
            head.index.markCompacted(Int(r.firstSeq - 1)..<Int(r.lastSeq), file: indexFile)
            runs[r.runId] = head
        }
    }
}
