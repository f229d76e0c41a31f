import APIRuntime
import CSystem
import Foundation
import Generated
import Glibc
import ProtoWire

/// Where start-up found the ledger's state.
public enum RecoverySource: String, Sendable {
    /// The whole log was decoded.
    case log
    /// A snapshot, then the log after it.
    case snapshot
}

/// A small state file beside the log: an 8-byte magic naming what it holds,
/// the CRC-32 of the payload (8 hex digits), a newline, then the payload, a
/// binary protobuf message. Written atomically (temp, fsync, rename), so it is
/// one whole file or the one before. `LedgerSnapshot` files start `OASNAP01`,
/// `LogCompaction` files `OACOMP01`.
enum SnapshotFile {
    static let magic = Array("OASNAP01".utf8)
    static let compactionMagic = Array("OACOMP01".utf8)

    static func encode(_ snapshot: RuntimeV1.LedgerSnapshot) -> [UInt8] { encode(snapshot.serializedBytes(), magic: magic) }

    static func encode(_ payload: [UInt8], magic: [UInt8]) -> [UInt8] {
        magic + LogFile.crcHex(CRC32.checksum(payload)) + [0x0A] + payload
    }

    struct Problem: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// The snapshot at `path`, nil when there is none; a file that is not one
    /// whole snapshot is a `Problem`.
    static func read(_ path: String) throws(Problem) -> RuntimeV1.LedgerSnapshot? {
        guard let payload = try payload(path, magic: magic) else { return nil }
        do { return try RuntimeV1.LedgerSnapshot(serializedBytes: payload) } catch { throw Problem("\(path) does not decode: \(error)") }
    }

    /// The checked payload of the file at `path` (nil: no file).
    static func payload(_ path: String, magic: [UInt8]) throws(Problem) -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { throw Problem("cannot read \(path)") }
        let bytes = [UInt8](data)
        let header = magic.count + 9
        guard bytes.count >= header, bytes.starts(with: magic), bytes[header - 1] == 0x0A else { throw Problem("\(path) is not a \(String(decoding: magic, as: UTF8.self)) file") }
        let payload = bytes[header...]
        let crc = payload.withUnsafeBytes { CRC32.checksum($0) }
        guard Array(bytes[magic.count..<(header - 1)]) == LogFile.crcHex(crc) else { throw Problem("\(path) fails its checksum") }
        return Array(payload)
    }
}

extension RuntimeLedger {
    struct Recovery {
        var history: History
        var from: RecoverySource
        /// The lsn the snapshot used covers (0: none).
        var snapshotLSN: UInt64
        var problem: String?
    }

    /// The snapshot, if it is whole and the log agrees with it, then the log
    /// after it; otherwise (or if the tail does not follow from it) the whole log.
    /// `live`: the files are the service's own, so a snapshot that cannot be
    /// used is removed before the index is rebuilt (it names blocks the rebuild
    /// overwrites); a check (`repair --verify`) passes false and a copy of the index.
    static func recover(path: String, snapshotPath: String, reader: LogReader, index: EventIndexFile, live: Bool = true) throws -> Recovery {
        var problem: String?
        do {
            if let snapshot = try SnapshotFile.read(snapshotPath) {
                try check(snapshot, against: reader, index: index)
                // Blocks written after the snapshot are written again from the log's tail.
                try index.truncate(to: snapshot.indexBytes)
                var history = History(index: index)
                history.store = store(from: snapshot, index: index)
                history.lsn = snapshot.lsn
                history.gaps = try gaps(path)
                // Segments removed since the snapshot was written: forget what they held.
                for d in history.gaps.values where d.end <= snapshot.logBytes { history.store.forget(d) }
                do {
                    try streamSegments(path: path, from: snapshot.logBytes, into: &history)
                    return Recovery(history: history, from: .snapshot, snapshotLSN: snapshot.lsn)
                } catch let damage as LogFile.Damage {
                    // The full rebuild below decides whether the log or the snapshot is at fault.
                    problem = "the log after \(snapshotPath) does not follow from it (\(damage.problem))"
                }
            }
        } catch let p as SnapshotFile.Problem {
            problem = p.description
        } catch let e as APIError {
            problem = "\(snapshotPath) does not match the log: \(e.message)"
        }
        if live, FileManager.default.fileExists(atPath: snapshotPath) {
            unlink(snapshotPath)
            _ = FileIO.syncDirectory(of: snapshotPath)
        }
        try index.truncate(to: 0)
        var history = History(index: index)
        try rebuild(path: path, into: &history)
        return Recovery(history: history, from: .log, snapshotLSN: 0, problem: problem.map { "snapshot ignored, state rebuilt from the whole log: \($0)" })
    }

    /// The record a snapshot names must be in the log, whole, where it says.
    static func check(_ snapshot: RuntimeV1.LedgerSnapshot, against reader: LogReader, index: EventIndexFile) throws {
        guard snapshot.format == 3 else { throw SnapshotFile.Problem("the snapshot predates the index file's key filters (format \(snapshot.format))") }
        guard index.bytes >= snapshot.indexBytes else {
            throw SnapshotFile.Problem("\(index.path) holds \(index.bytes) bytes, less than the \(snapshot.indexBytes) the snapshot names")
        }
        if snapshot.lsn == 0 { return }
        let line = try reader.line(at: snapshot.lastRecordOffset)
        guard CRC32.checksum(line) == snapshot.lastRecordCrc, snapshot.lastRecordOffset + UInt64(line.count) + 1 == snapshot.logBytes else {
            throw SnapshotFile.Problem("record \(snapshot.lsn) is not at byte \(snapshot.lastRecordOffset) of the log")
        }
        guard (try? LogFile.decode(line[...]))?.lsn == snapshot.lsn else { throw SnapshotFile.Problem("the record at byte \(snapshot.lastRecordOffset) is not lsn \(snapshot.lsn)") }
    }

    static func store(from s: RuntimeV1.LedgerSnapshot, index: EventIndexFile) -> Store {
        var store = Store(indexFile: index)
        store.runs.reserveCapacity(s.runs.count)
        for r in s.runs {
            let run = r.run ?? RuntimeV1.RuntimeRun()
            let tail = r.tailOffsets.indices.map { i in
                EventIndex.Entry(offset: r.tailOffsets[i], tag: i < r.tailTags.count ? r.tailTags[i] : 0, keyed: i < r.tailKeyed.count && r.tailKeyed[i])
            }
            let filter = KeyFilter(at: r.keyFilterAt, blocks: Int(r.keyFilterBlocks), count: Int(r.keyCount))
            let index = EventIndex(blocks: r.indexBlocks, tail: tail, filter: filter)
            store.runs[run.runId] = RunHead(run: run, index: index)
        }
        for w in s.workers {
            let worker = w.worker ?? RuntimeV1.RuntimeWorker()
            store.workers[worker.workerId] = worker
            store.workerEvents[worker.workerId] = EventIndex(blocks: w.indexBlocks, tail: w.tailOffsets.map { EventIndex.Entry(offset: $0) }, filter: KeyFilter())
        }
        for c in s.comms { store.comms[commsKey(c)] = c }
        for call in s.toolCalls { store.record(call) }
        store.lsn = s.lsn
        store.lastOffset = s.lastRecordOffset
        store.end = s.logBytes
        return store
    }

    static func snapshot(of store: Store, lastRecordCRC: UInt32, indexBytes: UInt64) -> RuntimeV1.LedgerSnapshot {
        var s = RuntimeV1.LedgerSnapshot()
        s.format = 3
        s.indexBytes = indexBytes
        s.lsn = store.lsn
        s.logBytes = store.end
        s.lastRecordOffset = store.lastOffset
        s.lastRecordCrc = lastRecordCRC
        // Sorted, so the same state always gives the same bytes.
        s.runs = store.runs.keys.sorted().compactMap { id in
            guard let head = store.runs[id] else { return nil }
            var r = RuntimeV1.RunHeadSnapshot()
            r.run = head.run
            r.indexBlocks = head.index.blocks
            r.tailOffsets = head.index.tail.map(\.offset)
            r.tailTags = head.index.tail.map(\.tag)
            r.tailKeyed = head.index.tail.map(\.keyed)
            let filter = head.index.filter.saved
            r.keyFilterAt = filter.at
            r.keyFilterBlocks = UInt32(filter.blocks)
            r.keyCount = UInt64(filter.count)
            return r
        }
        s.workers = store.workers.keys.sorted().compactMap { id in
            guard let worker = store.workers[id] else { return nil }
            var w = RuntimeV1.WorkerHeadSnapshot()
            w.worker = worker
            w.indexBlocks = store.workerEvents[id]?.blocks ?? []
            w.tailOffsets = store.workerEvents[id]?.tail.map(\.offset) ?? []
            return w
        }
        s.comms = store.comms.keys.sorted().compactMap { store.comms[$0] }
        s.toolCalls = store.toolCalls.keys.sorted().compactMap { store.toolCalls[$0] }
        return s
    }

    /// Writes a snapshot of committed state now (the background thread's work;
    /// also tests and tools). Returns the lsn it covers.
    @discardableResult
    public func writeSnapshot() throws -> UInt64 {
        // Appends to the index file happen under the same lock, so its length here is exactly what the copy's blocks cover.
        let (store, indexBytes) = readCommitted { committed -> (Store, UInt64) in
            var s = copy committed
            s.inflight = []  // batches still syncing are not durable yet
            return (s, committed.indexFile.bytes)
        }
        guard store.indexFile.sync() else { throw APIError.internalError("cannot sync \(store.indexFile.path): \(FileIO.lastError())") }
        let crc = store.lsn == 0 ? 0 : CRC32.checksum(try reader.line(at: store.lastOffset))
        let bytes = SnapshotFile.encode(RuntimeLedger.snapshot(of: store, lastRecordCRC: crc, indexBytes: indexBytes))
        try FileIO.writeAtomically(bytes, to: snapshotPath)
        snapshotLSN.withLock { $0 = max($0, store.lsn) }
        return store.lsn
    }

    func snapshotLoop() {
        while true {
            snapshotWake.wait()
            let (lsn, _) = committedPosition
            if lsn == 0 || lsn <= snapshotLSN.withLock({ $0 }) { continue }
            do { try writeSnapshot() } catch {
                FileHandle.standardError.write(Data("event log: cannot write snapshot \(snapshotPath): \(error)\n".utf8))
            }
            // No malloc_trim here: it holds the allocator's locks while it walks the
            // heap, which stalled every request thread for tens of milliseconds.
        }
    }

    /// `repair --verify`: the state a start-up would use (snapshot and tail)
    /// against a rebuild from the whole log. Returns the differences (empty: they agree).
    public static func verify(path: String) throws -> (source: RecoverySource, differences: [String]) {
        let reader = try LogReader(path: path, cacheCapacity: 0)
        // The live index file is left alone: the snapshot's blocks are read from a copy.
        let copy = try EventIndexFile.scratch()
        if let data = FileManager.default.contents(atPath: path + ".index") {
            guard copy.replaceContents(with: [UInt8](data)) else { throw APIError.internalError("cannot copy \(path).index: \(FileIO.lastError())") }
        }
        let used = try recover(path: path, snapshotPath: path + ".snapshot", reader: reader, index: copy, live: false)
        var full = History(index: try EventIndexFile.scratch())
        try rebuild(path: path, into: &full)
        return (used.from, used.history.store.differences(from: full.store) + (used.problem.map { [$0] } ?? []))
    }
}

extension RuntimeLedger.Store {
    /// What differs between two states, named (lsn and byte positions of the log excepted where `end` is unknown).
    func differences(from other: RuntimeLedger.Store) -> [String] {
        var out: [String] = []
        if lsn != other.lsn { out.append("lsn \(lsn) vs \(other.lsn)") }
        func entries(_ index: EventIndex?, _ file: EventIndexFile) -> [EventIndex.Entry]? { try? (index ?? EventIndex()).all(file: file) }
        for id in Set(runs.keys).union(other.runs.keys).sorted() {
            let (a, b) = (runs[id], other.runs[id])
            let mine = entries(a?.index, indexFile)
            if a?.run != b?.run || mine != entries(b?.index, other.indexFile) {
                out.append("run \(id) differs")
            } else if let index = a?.index, let sealed = mine?.prefix(index.blocks.count * EventIndex.blockEntries),
                      sealed.contains(where: { $0.keyed && !index.filter.mayContain($0.tag, file: indexFile) }) {
                // Filters may differ (one that saw compacted keys before forgetting them holds more); neither may miss a key.
                out.append("run \(id): the key filter misses a key")
            }
        }
        for id in Set(workers.keys).union(other.workers.keys).sorted()
        where workers[id] != other.workers[id] || entries(workerEvents[id], indexFile) != entries(other.workerEvents[id], other.indexFile) {
            out.append("worker \(id) differs")
        }
        if comms != other.comms { out.append("comms delivery events differ") }
        if toolCalls != other.toolCalls || budgetSpent != other.budgetSpent { out.append("tool calls differ") }
        return out
    }
}
