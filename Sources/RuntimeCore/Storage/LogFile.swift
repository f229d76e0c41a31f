import APIRuntime
import Dispatch
import Foundation
import Generated
import Glibc
import ProtoWire
import Synchronization

/// The on-disk form of the event log: one JSON object per line,
/// `{"crc":"<8 hex>","record":<RuntimeLogRecord JSON>}`, where `crc` is the
/// CRC-32 of the record's exact bytes. A torn final line (a crash mid-write)
/// fails the check and is cut off at start-up; a bad line anywhere else stops
/// start-up with an error that names it. Lines of the first format,
/// `{"sum":"<16 hex>",...}` with a SHA-256 prefix, are still read.
public enum LogFile {
    static let crcPrefix = Array("{\"crc\":\"".utf8)
    static let sumPrefix = Array("{\"sum\":\"".utf8)
    static let middle = Array("\",\"record\":".utf8)
    static let hexDigits = Array("0123456789abcdef".utf8)

    public static func line(for record: RuntimeV1.RuntimeLogRecord) -> [UInt8] {
        let json = (try? record.jsonBytes()) ?? []
        var out: [UInt8] = []
        out.reserveCapacity(json.count + 32)
        out += crcPrefix
        out += crcHex(CRC32.checksum(json))
        out += middle
        out += json
        out.append(UInt8(ascii: "}"))
        out.append(0x0A)
        return out
    }

    /// A CRC as the 8 lowercase hex digits a line states it with.
    static func crcHex(_ crc: UInt32) -> [UInt8] {
        stride(from: 28, through: 0, by: -4).map { hexDigits[Int((crc >> UInt32($0)) & 0xF)] }
    }

    public enum LineProblem: Error, Equatable { case malformed, checksum, record(String) }

    static let workerEventKeys = [Array("\"workerEvent\":".utf8), Array("\"worker_event\":".utf8)]

    /// Whether a line may hold a worker record, judged on its bytes before any
    /// decoding: a worker record's line always carries the key; another line
    /// that does (inside a payload) is decoded and then set aside.
    public static func mayHoldWorkerEvent(_ line: ArraySlice<UInt8>) -> Bool {
        line.withUnsafeBytes { b in
            guard let base = b.baseAddress else { return false }
            // Every key starts `"w`: only there is a whole key compared.
            var i = 0
            while i + 1 < b.count {
                if b[i] == 0x22, b[i + 1] == UInt8(ascii: "w") {
                    for key in workerEventKeys where i + key.count <= b.count && key.withUnsafeBytes({ k in k.baseAddress.map { memcmp($0, base + i, key.count) == 0 } ?? false }) {
                        return true
                    }
                }
                i += 1
            }
            return false
        }
    }

    /// Decodes one line (without its newline).
    public static func decode(_ line: ArraySlice<UInt8>) throws(LineProblem) -> RuntimeV1.RuntimeLogRecord {
        let result: Result<RuntimeV1.RuntimeLogRecord, LineProblem> = line.withUnsafeBytes { buffer in
            do throws(LineProblem) { return .success(try decode(buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    static func decode(_ line: UnsafeRawBufferPointer) throws(LineProblem) -> RuntimeV1.RuntimeLogRecord {
        let digits: Int
        if line.starts(with: crcPrefix) { digits = 8 } else if line.starts(with: sumPrefix) { digits = 16 } else { throw .malformed }
        let sumStart = crcPrefix.count
        let jsonStart = sumStart + digits + middle.count
        guard line.count > jsonStart + 1, line[line.count - 1] == UInt8(ascii: "}"),
              UnsafeRawBufferPointer(rebasing: line[(sumStart + digits)..<jsonStart]).elementsEqual(middle) else { throw .malformed }
        let json = UnsafeRawBufferPointer(rebasing: line[jsonStart..<(line.count - 1)])
        let stated = UnsafeRawBufferPointer(rebasing: line[sumStart..<(sumStart + digits)])
        if digits == 8 {
            guard stated.elementsEqual(crcHex(CRC32.checksum(json))) else { throw .checksum }
        } else {
            let sum = SHA256.hash(json)
            for i in 0..<8 where stated[2 * i] != hexDigits[Int(sum[i] >> 4)] || stated[2 * i + 1] != hexDigits[Int(sum[i] & 0xF)] {
                throw .checksum
            }
        }
        do { return try RuntimeV1.RuntimeLogRecord(jsonBuffer: json) } catch { throw .record("\(error)") }
    }

    public struct Damage: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let line: Int
        public let problem: String
        public var description: String { "event log \(path) is damaged at line \(line): \(problem) (run `openagents repair` to keep a backup and truncate there)" }
    }

    /// A record that does not follow from the ones before it.
    public struct HistoryProblem: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// Runs `body` over the file memory-mapped read-only (an empty buffer for an
    /// empty file); nil when there is no file. The mapping ends when `body` returns.
    static func withMapped<T>(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw APIError.internalError("cannot open event log \(path): \(FileIO.lastError())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw APIError.internalError("cannot stat \(path): \(FileIO.lastError())") }
        let size = Int(st.st_size)
        if size == 0 { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
            throw APIError.internalError("cannot map event log \(path): \(FileIO.lastError())")
        }
        defer { munmap(map, size) }
        madvise(map, size, MADV_SEQUENTIAL)
        return try body(UnsafeRawBufferPointer(start: map, count: size))
    }

    /// Every record at once (tests, tools); the service uses `stream`.
    public static func load(path: String, truncateTornTail: Bool = true) throws -> [RuntimeV1.RuntimeLogRecord] {
        var records: [RuntimeV1.RuntimeLogRecord] = []
        try stream(path: path, truncateTornTail: truncateTornTail) { chunk, _ in records += chunk }
        return records
    }

    /// Streams every record to `consume`, in order, chunk by chunk, with the
    /// line number of each chunk's first record. The (memory-mapped) file is
    /// decoded on every core while `consume` works through earlier chunks, so
    /// rebuilding state overlaps decoding. A bad final line without its newline
    /// is a torn write: it is cut off (the file is truncated). Any other bad
    /// line is `Damage`, thrown after every record before it was consumed.
    /// `from`: the byte offset to start at (the end of what a snapshot covers).
    /// Each chunk comes with its records' byte offsets in the file.
    public static func stream(path: String, from: Int = 0, truncateTornTail: Bool = true,
                            _ consume: (_ chunk: [RuntimeV1.RuntimeLogRecord], _ offsets: ArraySlice<Int>) throws -> Void) throws {
        _ = try withMapped(path) { buffer in
            guard from <= buffer.count else { throw Damage(path: path, line: 0, problem: "the file is shorter (\(buffer.count) bytes) than its snapshot says (\(from))") }
            try stream(buffer, from: from, path: path, truncateTornTail: truncateTornTail, consume)
        }
    }

    /// The number (from 1) of the line starting at byte `offset` of the file, so
    /// damage can be found with any editor. Counted only when damage is reported:
    /// a start-up from a snapshot must not read the whole file to know it.
    public static func lineNumber(in path: String, at offset: Int) -> Int {
        (try? withMapped(path) { lineNumber($0, at: offset) }) ?? 0
    }

    static func lineNumber(_ buffer: UnsafeRawBufferPointer, at offset: Int) -> Int {
        guard let base = buffer.baseAddress else { return 1 }
        var line = 1
        var p = 0
        let end = min(offset, buffer.count)
        while p < end, let nl = memchr(base + p, 0x0A, end - p) {
            line += 1
            p = UnsafeRawPointer(nl) - base + 1
        }
        return line
    }

    private static func stream(_ buffer: UnsafeRawBufferPointer, from: Int, path: String, truncateTornTail: Bool,
                               _ consume: (_ chunk: [RuntimeV1.RuntimeLogRecord], _ offsets: ArraySlice<Int>) throws -> Void) throws {
        guard let map = buffer.baseAddress, buffer.count > from else { return }
        let size = buffer.count
        // Line boundaries first (memchr), then chunks of lines decoded in parallel.
        var starts: [Int] = []
        var ends: [Int] = []
        var start = from
        while start < size {
            let end = memchr(map + start, 0x0A, size - start).map { UnsafeRawPointer($0) - map } ?? size
            starts.append(start)
            ends.append(end)
            start = end + 1
        }
        let count = starts.count
        let perChunk = 4_000
        let chunkCount = max(1, (count + perChunk - 1) / perChunk)
        /// Decoding may run at most this many chunks ahead of `consume`, so only
        /// a window of decoded records is alive at once, not the whole log.
        let window = 8

        final class Slot: @unchecked Sendable {
            var records: [RuntimeV1.RuntimeLogRecord] = []
            var failure: (line: Int, problem: LineProblem)?
            let ready = DispatchSemaphore(value: 0)
            /// Signalled when the chunk `window` places earlier has been consumed.
            let permit = DispatchSemaphore(value: 0)
        }
        /// The mapped bytes and line table, read-only while chunks decode.
        struct Shared: @unchecked Sendable {
            let bytes: UnsafeRawBufferPointer
            let starts: [Int]
            let ends: [Int]
        }
        let shared = Shared(bytes: buffer, starts: starts, ends: ends)
        let slots = (0..<chunkCount).map { _ in Slot() }
        for slot in slots.prefix(window) { slot.permit.signal() }
        let stop = Atomic<Bool>(false)
        let next = Atomic<Int>(0)
        let decoders = DispatchGroup()
        // Each decoder claims chunks in order and waits only on its own chunk's
        // permit; the chunk `consume` needs next is always inside the window.
        for _ in 0..<max(1, ProcessInfo.processInfo.activeProcessorCount) {
            decoders.enter()
            DispatchQueue.global().async {
                defer { decoders.leave() }
                while true {
                    let c = next.add(1, ordering: .relaxed).oldValue
                    guard c < chunkCount else { return }
                    let slot = slots[c]
                    defer { slot.ready.signal() }
                    slot.permit.wait()
                    if stop.load(ordering: .relaxed) { continue }
                    let range = (c * perChunk)..<min(count, (c + 1) * perChunk)
                    slot.records.reserveCapacity(range.count)
                    for i in range {
                        do throws(LineProblem) {
                            slot.records.append(try decode(UnsafeRawBufferPointer(rebasing: shared.bytes[shared.starts[i]..<shared.ends[i]])))
                        } catch {
                            slot.failure = (i, error)
                            break
                        }
                    }
                }
            }
        }
        // The mapping must outlive every decoder, including after an early exit.
        defer {
            stop.store(true, ordering: .relaxed)
            for slot in slots { slot.permit.signal() }
            decoders.wait()
        }
        for (c, slot) in slots.enumerated() {
            slot.ready.wait()
            let records = slot.records
            slot.records = []
            if c + window < chunkCount { slots[c + window].permit.signal() }
            let range = (c * perChunk)..<min(count, (c * perChunk) + records.count)
            try consume(records, starts[range])
            guard let (i, problem) = slot.failure else { continue }
            if i == count - 1 && ends[i] == size {
                // Torn tail: the last write never completed.
                if truncateTornTail { truncate(path, Int64(starts[i])) }
                return
            }
            throw Damage(path: path, line: lineNumber(buffer, at: starts[i]), problem: "\(problem)")
        }
    }

    /// `repair`: keeps a backup and truncates at the first line that is bad or
    /// does not follow from the ones before it, in whichever segment it is;
    /// later segments are moved aside too (they cannot follow a cut). Returns
    /// the number of records kept and where the backups are.
    public static func repair(path: String) throws -> (kept: Int, backup: String?) {
        var history = RuntimeLedger.History(index: try EventIndexFile.scratch())
        history.gaps = try RuntimeLedger.gaps(path)
        var kept = 0
        let segments = LogSegments.list(path)
        for (k, segment) in segments.enumerated() {
            let scan = try withMapped(segment.path) { bytes -> (goodBytes: Int, size: Int) in
                var start = 0
                while start < bytes.count {
                    guard let newline = bytes[start...].firstIndex(of: 0x0A),
                          let record = try? decode(UnsafeRawBufferPointer(rebasing: bytes[start..<newline])),
                          (try? history.apply(record, at: segment.base + UInt64(start))) != nil else { break }
                    kept += 1
                    start = newline + 1
                }
                return (start, bytes.count)
            }
            guard let (start, size) = scan, start < size else { continue }
            let stamp = "\(Int(Date().timeIntervalSince1970))"
            let backup = segment.path + ".bak-" + stamp
            try FileManager.default.copyItem(atPath: segment.path, toPath: backup)
            truncate(segment.path, Int64(start))
            for later in segments[(k + 1)...] { try FileManager.default.moveItem(atPath: later.path, toPath: later.path + ".bak-" + stamp) }
            return (kept, backup)
        }
        return (kept, nil)
    }

    static func truncate(_ path: String, _ length: Int64) {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return }
        ftruncate(fd, off_t(length))
        fsync(fd)
        close(fd)
    }
}
