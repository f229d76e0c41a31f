import APIRuntime
import Foundation
import Glibc
import Synchronization

/// `<log>.index`: where each run's and worker's events are in the log, in
/// blocks of `EventIndex.blockEntries` entries, so memory keeps one position
/// per block instead of one offset per event. It is derived data: a full
/// rebuild writes it afresh, a snapshot names how much of it it covers (the
/// file is synced before the snapshot is written, and cut back to that length
/// at start-up), and nothing in it is needed to recover the log. A block is
/// immutable once appended, except that compaction rewrites the entries of
/// removed events in place.
///
/// Between the blocks are runs' key filters (`KeyFilter`): regions of raw bits
/// that are only found through the position a run's index holds, and that
/// are updated in place by setting bits (so a read racing a write sees each
/// byte before or after it, and either answer holds every key inserted
/// before the read began).
///
/// A block is `blockEntries` entries of 16 bytes (little-endian: the event's
/// byte offset in the log, the 32-bit tag of its idempotency key, flags with
/// bit 0 set when it has one), then the CRC-32 of those bytes and the magic
/// `OAIX`. A block that fails its check is reported, never used.
final class EventIndexFile: @unchecked Sendable {
    static let entryBytes = 16
    static let blockBytes = EventIndex.blockEntries * entryBytes + 8
    static let magic: UInt32 = 0x5849_414F  // "OAIX" little-endian

    let path: String
    private let fd: Int32
    /// Bytes appended so far (appends come from one thread at a time, the
    /// ledger's committer or start-up; the lock orders them against readers of `bytes`).
    private let length: Mutex<UInt64>

    /// Opens (creating) the index at `path`.
    init(path: String) throws(APIError) {
        self.path = path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw APIError.internalError("cannot open event index \(path): \(FileIO.lastError())") }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw APIError.internalError("cannot stat event index \(path): \(FileIO.lastError())") }
        length = Mutex(UInt64(st.st_size))
    }

    /// A private index nobody else sees (a check that rebuilds state beside the live one: `repair`, `repair --verify`).
    static func scratch() throws(APIError) -> EventIndexFile {
        var template = Array((NSTemporaryDirectory() + "/openagents-index-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw APIError.internalError("cannot create a scratch index: \(FileIO.lastError())") }
        close(fd)
        let path = String(cString: template)
        let file = try EventIndexFile(path: path)
        unlink(path)  // gone with the last descriptor
        return file
    }

    deinit { close(fd) }

    var bytes: UInt64 { length.withLock { $0 } }

    /// Cuts the file to `bytes` (what a snapshot covers; 0 before a full rebuild).
    func truncate(to bytes: UInt64) throws(APIError) {
        try length.withLock { n throws(APIError) in
            guard ftruncate(fd, off_t(bytes)) == 0 else { throw APIError.internalError("cannot truncate event index \(path): \(FileIO.lastError())") }
            n = bytes
        }
    }

    /// Appends one full block; returns its position, nil when it could not be
    /// written (the caller keeps the entries in memory and tries again later).
    func append(_ entries: ArraySlice<EventIndex.Entry>) -> UInt64? {
        precondition(entries.count == EventIndex.blockEntries)
        let block = EventIndexFile.encode(entries)
        return length.withLock { n -> UInt64? in
            guard EventIndexFile.pwriteAll(fd, block, at: n) else { return nil }
            defer { n += UInt64(block.count) }
            return n
        }
    }

    /// Appends a key filter's region; returns its position, nil when it could not be written.
    func appendRegion(_ bytes: [UInt8]) -> UInt64? {
        length.withLock { n -> UInt64? in
            guard EventIndexFile.pwriteAll(fd, bytes, at: n) else { return nil }
            defer { n += UInt64(bytes.count) }
            return n
        }
    }

    /// `count` bytes at `position` (part of a key filter's region), nil when they cannot be read whole.
    func readBytes(at position: UInt64, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(position) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        return bytes
    }

    /// Writes `bytes` at `position`, inside a region appended before.
    func writeBytes(_ bytes: [UInt8], at position: UInt64) -> Bool {
        EventIndexFile.pwriteAll(fd, bytes, at: position)
    }

    /// Rewrites the block at `position` (compaction marking removed events).
    func rewrite(_ entries: [EventIndex.Entry], at position: UInt64) -> Bool {
        EventIndexFile.pwriteAll(fd, EventIndexFile.encode(entries[...]), at: position)
    }

    /// The block at `position`.
    func read(at position: UInt64) throws(APIError) -> [EventIndex.Entry] {
        var block = [UInt8](repeating: 0, count: EventIndexFile.blockBytes)
        // A rewrite racing this read can tear it: the check catches that, and a second read sees one whole block.
        for attempt in 0..<2 {
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(position)) }
            if n == block.count, let entries = EventIndexFile.decode(block) { return entries }
            if attempt == 1 {
                throw APIError.internalError("event index \(path): the block at byte \(position) is damaged; stop the service and remove \(path) and the snapshot beside it (both are rebuilt from the log)")
            }
        }
        return []
    }

    /// Replaces the whole file with `bytes` (a check's private copy of a live index).
    func replaceContents(with bytes: [UInt8]) -> Bool {
        length.withLock { n in
            guard ftruncate(fd, 0) == 0, EventIndexFile.pwriteAll(fd, bytes, at: 0) else { return false }
            n = UInt64(bytes.count)
            return true
        }
    }

    /// Makes every appended block durable (before a snapshot names them).
    func sync() -> Bool { fsync(fd) == 0 }

    static func encode(_ entries: ArraySlice<EventIndex.Entry>) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(blockBytes)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        for e in entries {
            put(e.offset)
            put(e.tag)
            put(UInt32(e.keyed ? 1 : 0))
        }
        put(out.withUnsafeBytes { CRC32.checksum($0) })
        put(magic)
        return out
    }

    static func decode(_ block: [UInt8]) -> [EventIndex.Entry]? {
        block.withUnsafeBytes { b -> [EventIndex.Entry]? in
            let body = EventIndex.blockEntries * entryBytes
            guard b.count == blockBytes, b.loadUnaligned(fromByteOffset: body + 4, as: UInt32.self).littleEndian == magic,
                  b.loadUnaligned(fromByteOffset: body, as: UInt32.self).littleEndian == CRC32.checksum(UnsafeRawBufferPointer(rebasing: b[0..<body]))
            else { return nil }
            return (0..<EventIndex.blockEntries).map { i in
                let at = i * entryBytes
                return EventIndex.Entry(offset: b.loadUnaligned(fromByteOffset: at, as: UInt64.self).littleEndian,
                                        tag: b.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self).littleEndian,
                                        keyed: b.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self).littleEndian & 1 == 1)
            }
        }
    }

    private static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: UInt64) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            done += n
        }
        return true
    }
}
