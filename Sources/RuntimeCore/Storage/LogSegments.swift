import APIRuntime
import Foundation
import Glibc

/// The event log as segment files. Every record has one global byte offset
/// (what indexes and snapshots hold); a segment holds whole lines, starting at
/// its base offset. The first segment is the log path itself
/// (`runtime-events.jsonl`, base 0, so a log from before segments opens as
/// one); each later one is `<log path>.<base, 20 digits>`, created when the
/// one before it reaches the configured size.
enum LogSegments {
    struct Listed: Equatable {
        let base: UInt64
        let path: String
    }

    static func path(_ log: String, base: UInt64) -> String {
        base == 0 ? log : log + "." + String(repeating: "0", count: max(0, 20 - String(base).count)) + String(base)
    }

    /// The segments on disk, by base offset.
    static func list(_ log: String) -> [Listed] {
        let dir = (log as NSString).deletingLastPathComponent
        let name = (log as NSString).lastPathComponent
        var out: [Listed] = []
        if FileManager.default.fileExists(atPath: log) { out.append(Listed(base: 0, path: log)) }
        for file in (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? [] {
            guard file.hasPrefix(name + "."), case let digits = file.dropFirst(name.count + 1), digits.count == 20,
                  digits.allSatisfy(\.isNumber), let base = UInt64(digits), base > 0 else { continue }
            out.append(Listed(base: base, path: (dir.isEmpty ? "" : dir + "/") + file))
        }
        return out.sorted { $0.base < $1.base }
    }

    static func size(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_size) : 0
    }
}

/// One segment file held open. The descriptor closes when the last holder
/// lets go: a reader's handle keeps a segment compaction dropped readable until
/// its read ends; the writer's handle is held by the sync thread until the last
/// batch written to it is synced.
final class SegmentFile: Sendable {
    enum Mode { case read, append }
    let base: UInt64
    let path: String
    let fd: Int32

    init(base: UInt64, path: String, _ mode: Mode = .read) throws(APIError) {
        self.base = base
        self.path = path
        fd = mode == .read ? open(path, O_RDONLY | O_CLOEXEC) : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw APIError.internalError("cannot open event log segment \(path)\(mode == .read ? " for reading" : ""): \(FileIO.lastError())") }
    }

    deinit { close(fd) }
}
