import Foundation
import Generated
import Glibc
import ProtoWire

/// The on-disk form of the event log: one JSON object per line,
/// `{"sum":"<16 hex>","record":<RuntimeLogRecord JSON>}`, where `sum` is the
/// first 8 bytes of SHA-256 over the record's exact bytes. A torn final line
/// (a crash mid-write) fails the check and is cut off at start-up; a bad line
/// anywhere else stops start-up with an error that names it.
public enum LogFile {
    static let prefix = Array("{\"sum\":\"".utf8)
    static let middle = Array("\",\"record\":".utf8)

    public static func line(for record: RuntimeV1.RuntimeLogRecord) -> [UInt8] {
        let json = (try? record.jsonBytes()) ?? []
        let sum = SHA256.hash(json).prefix(8).map { String($0, radix: 16).leftPad(2) }.joined()
        return prefix + Array(sum.utf8) + middle + json + [UInt8(ascii: "}"), 0x0A]
    }

    public enum LineProblem: Error, Equatable { case malformed, checksum, record(String) }

    /// Decodes one line (without its newline).
    public static func decode(_ line: ArraySlice<UInt8>) throws(LineProblem) -> RuntimeV1.RuntimeLogRecord {
        let minimum = prefix.count + 16 + middle.count + 1
        guard line.count > minimum, line.starts(with: prefix), line.last == UInt8(ascii: "}") else { throw .malformed }
        let sumStart = line.startIndex + prefix.count
        let sum = line[sumStart..<(sumStart + 16)]
        guard line[(sumStart + 16)..<(sumStart + 16 + middle.count)].elementsEqual(middle) else { throw .malformed }
        let json = Array(line[(sumStart + 16 + middle.count)..<(line.endIndex - 1)])
        let expected = SHA256.hash(json).prefix(8).map { String($0, radix: 16).leftPad(2) }.joined()
        guard String(decoding: sum, as: UTF8.self) == expected else { throw .checksum }
        do { return try RuntimeV1.RuntimeLogRecord(jsonBytes: json) } catch { throw .record("\(error)") }
    }

    /// A record that does not follow from the ones before it.
    public struct HistoryProblem: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    public struct Damage: Error, CustomStringConvertible, Equatable {
        public let path: String
        public let line: Int
        public let problem: String
        public var description: String { "event log \(path) is damaged at line \(line): \(problem) (run `openagents repair` to keep a backup and truncate there)" }
    }

    /// Reads every record. A bad final line without its newline is a torn
    /// write: it is cut off (the file is truncated). Any other bad line is `Damage`.
    public static func load(path: String, truncateTornTail: Bool = true) throws -> [RuntimeV1.RuntimeLogRecord] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var records: [RuntimeV1.RuntimeLogRecord] = []
        var start = 0
        var lineNumber = 0
        while start < bytes.count {
            lineNumber += 1
            let newline = bytes[start...].firstIndex(of: 0x0A)
            let end = newline ?? bytes.count
            do {
                records.append(try decode(bytes[start..<end]))
            } catch {
                if newline == nil {
                    // Torn tail: the last write never completed.
                    if truncateTornTail { truncate(path, Int64(start)) }
                    return records
                }
                throw Damage(path: path, line: lineNumber, problem: "\(error)")
            }
            start = end + 1
        }
        return records
    }

    /// `repair`: keeps a backup and truncates at the first bad line. Returns the number of records kept.
    public static func repair(path: String) throws -> (kept: Int, backup: String?) {
        guard FileManager.default.fileExists(atPath: path) else { return (0, nil) }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var start = 0
        var kept = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            if (try? decode(bytes[start..<end])) == nil || end == bytes.count { break }
            kept += 1
            start = end + 1
        }
        if start >= bytes.count { return (kept, nil) }
        let backup = path + ".bak-\(Int(Date().timeIntervalSince1970))"
        try FileManager.default.copyItem(atPath: path, toPath: backup)
        truncate(path, Int64(start))
        return (kept, backup)
    }

    static func truncate(_ path: String, _ length: Int64) {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return }
        ftruncate(fd, off_t(length))
        fsync(fd)
        close(fd)
    }
}
