import APIRuntime
import Generated
import Glibc
import Synchronization

/// Reads committed records back from the log by global byte offset (`pread`
/// on the segment that holds it, so an old run costs disk or page-cache
/// reads, never resident memory), through a bounded cache of recently
/// committed or read records. Only offsets of durable lines are ever asked
/// for, so a read never races the writer.
final class LogReader: Sendable {
    let path: String
    private let cache: Mutex<RecordCache>
    /// By base offset.
    private let segments: Mutex<[SegmentFile]>

    /// Opens every segment of the log at `path` (the first is created if missing).
    init(path: String, cacheCapacity: Int) throws(APIError) {
        self.path = path
        var open: [SegmentFile] = []
        for s in LogSegments.list(path) { open.append(try SegmentFile(base: s.base, path: s.path)) }
        segments = Mutex(open)
        cache = Mutex(RecordCache(capacity: cacheCapacity))
    }

    /// A segment the writer just created.
    func add(_ segment: SegmentFile) {
        segments.withLock { s in
            s.append(segment)
            s.sort { $0.base < $1.base }
        }
    }

    /// Forgets the segment at `base` (compaction removed it); a read already
    /// holding it finishes, later reads of its offsets are 410.
    func drop(base: UInt64) {
        segments.withLock { $0.removeAll { $0.base == base } }
    }

    var segmentBases: [UInt64] { segments.withLock { $0.map(\.base) } }

    /// The segment holding `offset`: the last one whose base is not above it.
    private func segment(for offset: UInt64) throws(APIError) -> SegmentFile {
        let found = segments.withLock { s -> SegmentFile? in
            var lo = 0, hi = s.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if s[mid].base <= offset { lo = mid + 1 } else { hi = mid }
            }
            return lo == 0 ? nil : s[lo - 1]
        }
        guard let found, offset != RuntimeLedger.compacted else { throw RuntimeLedger.compactedError(offset) }
        return found
    }

    /// Whether a later segment exists (so this one no longer grows).
    private func isClosed(_ segment: SegmentFile) -> Bool { segments.withLock { $0.last.map { $0 !== segment } ?? false } }

    /// The base of the first segment after the one holding `offset` (nil: none).
    func nextSegmentBase(after offset: UInt64) -> UInt64? {
        segments.withLock { $0.first { $0.base > offset }?.base }
    }

    /// Keeps a just-committed record at hand (the next reads of a live run want it).
    func remember(_ record: RuntimeV1.RuntimeLogRecord, at offset: UInt64) {
        cache.withLock { $0.insert(record, at: offset) }
    }

    /// The records at `offsets`, in that order.
    func records(at offsets: some Collection<UInt64>) throws(APIError) -> [RuntimeV1.RuntimeLogRecord] {
        var out: [RuntimeV1.RuntimeLogRecord?] = cache.withLock { c in offsets.map { c.lookup($0) } }
        var missing = false
        for (i, offset) in zip(out.indices, offsets) where out[i] == nil {
            out[i] = try read(at: offset)
            missing = true
        }
        let found = out.compactMap { $0 }
        if missing { cache.withLock { c in for (r, o) in zip(found, offsets) { c.insert(r, at: o) } } }
        return found
    }

    func record(at offset: UInt64) throws(APIError) -> RuntimeV1.RuntimeLogRecord {
        if let r = cache.withLock({ $0.lookup(offset) }) { return r }
        let r = try read(at: offset)
        cache.withLock { $0.insert(r, at: offset) }
        return r
    }

    private func read(at offset: UInt64) throws(APIError) -> RuntimeV1.RuntimeLogRecord {
        let bytes = try line(at: offset)
        do throws(LogFile.LineProblem) { return try LogFile.decode(bytes[...]) } catch {
            throw APIError.internalError("event log \(path) is damaged at byte \(offset): \(error)")
        }
    }

    /// Up to `count` bytes at `offset`, from its segment alone (fewer at the end of the segment).
    func bytes(at offset: UInt64, count: Int) throws(APIError) -> [UInt8] {
        let segment = try segment(for: offset)
        let fd = segment.fd
        let offset = offset - segment.base
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buffer.withUnsafeMutableBytes { b -> Int in
                guard let base = b.baseAddress else { return 0 }
                return pread(fd, base + filled, count - filled, off_t(offset) + off_t(filled))
            }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw APIError.internalError("cannot read event log \(path) at byte \(offset): \(FileIO.lastError())") }
            if n == 0 { break }
            filled += n
        }
        return filled == count ? buffer : Array(buffer[0..<filled])
    }

    /// The bytes of the line at `offset`, without its newline: read a block,
    /// grow it until the newline is in it.
    func line(at offset: UInt64) throws(APIError) -> [UInt8] {
        let segment = try segment(for: offset)
        let fd = segment.fd
        let global = offset
        let offset = offset - segment.base
        var size = 4096
        while true {
            var buffer = [UInt8](repeating: 0, count: size)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            // Past the end of a segment that is not the last: the bytes were in a removed segment.
            if n == 0, isClosed(segment) { throw RuntimeLedger.compactedError(global) }
            guard n > 0 else { throw APIError.internalError("cannot read event log \(path) at byte \(global): \(n < 0 ? FileIO.lastError() : "end of file")") }
            if let newline = buffer[0..<n].firstIndex(of: 0x0A) { return Array(buffer[0..<newline]) }
            guard n == size else { throw APIError.internalError("event log \(path) ends inside the line at byte \(offset)") }
            size *= 4
        }
    }
}

/// At most `capacity` records by offset; the oldest inserted goes first.
struct RecordCache {
    let capacity: Int
    private var records: [UInt64: RuntimeV1.RuntimeLogRecord] = [:]
    private var order: [UInt64] = []
    private var next = 0

    init(capacity: Int) {
        self.capacity = max(0, capacity)
        records.reserveCapacity(self.capacity)
    }

    func lookup(_ offset: UInt64) -> RuntimeV1.RuntimeLogRecord? { records[offset] }

    mutating func insert(_ record: RuntimeV1.RuntimeLogRecord, at offset: UInt64) {
        guard capacity > 0, records[offset] == nil else { return }
        if order.count < capacity {
            order.append(offset)
        } else {
            records[order[next]] = nil
            order[next] = offset
            next = (next + 1) % capacity
        }
        records[offset] = record
    }
}
