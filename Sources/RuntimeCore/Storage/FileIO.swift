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
}
