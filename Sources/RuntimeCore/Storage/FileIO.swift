import Foundation
import Glibc

/// Low-level file writing shared by the event log, the checkpoint file and the secret.
enum FileIO {
    /// Writes every byte (retrying short writes and EINTR); false on an error (errno says which).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { b -> Int in
                guard let base = b.baseAddress else { return 0 }
                return write(fd, base + off, bytes.count - off)
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            off += n
        }
        return true
    }

    /// The text of the current `errno`.
    static func lastError() -> String {
        guard let message = strerror(errno) else { return "error \(errno)" }
        return String(decoding: UnsafeRawBufferPointer(start: message, count: strlen(message)), as: UTF8.self)
    }

    public struct PersistError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Write temp, fsync, rename, fsync the directory: the file is always one
    /// whole state, the old one or the new one, across a crash at any point.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(PersistError) {
        let dir = (path as NSString).deletingLastPathComponent
        do { try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true) } catch {
            throw PersistError(description: "create \(dir): \(error)")
        }
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PersistError(description: "open \(tmp): \(lastError())") }
        guard writeAll(fd, bytes) else { close(fd); throw PersistError(description: "write \(tmp): \(lastError())") }
        guard fsync(fd) == 0 else { close(fd); throw PersistError(description: "fsync \(tmp): \(lastError())") }
        close(fd)
        guard rename(tmp, path) == 0 else { throw PersistError(description: "rename \(tmp): \(lastError())") }
        _ = syncDirectory(of: path)
    }

    /// Makes the directory entries of the directory holding `path` durable
    /// (a created, renamed or removed file); false on an error (errno says which).
    static func syncDirectory(of path: String) -> Bool {
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { return false }
        defer { close(dfd) }
        return fsync(dfd) == 0
    }
}
