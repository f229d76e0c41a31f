import Foundation
import Synchronization

/// Structured JSON log lines on stderr; the level comes from `OA_LOG_LEVEL`
/// (debug, info, warn, error; default info).
public final class Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case debug = 0, info, warn, error
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        var name: String { ["debug", "info", "warn", "error"][rawValue] }
    }
    public let minimum: Level
    private let lock = Mutex<Void>(())

    public init(level: Level? = nil) {
        if let level { minimum = level; return }
        switch ProcessInfo.processInfo.environment["OA_LOG_LEVEL"]?.lowercased() {
        case "debug": minimum = .debug
        case "warn", "warning": minimum = .warn
        case "error": minimum = .error
        default: minimum = .info
        }
    }

    public func log(_ level: Level, _ message: String, _ fields: [String: String] = [:]) {
        guard level >= minimum else { return }
        var line = "{\"ts\":\"\(Logger.timestamp())\",\"level\":\"\(level.name)\",\"msg\":\(Logger.quote(message))"
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) { line += ",\(Logger.quote(k)):\(Logger.quote(v))" }
        line += "}\n"
        lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return GoogleTimestampText.format(seconds: Int64(ts.tv_sec), millis: Int(ts.tv_nsec / 1_000_000))
    }
}

enum GoogleTimestampText {
    static func format(seconds: Int64, millis: Int) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis)
    }
}
