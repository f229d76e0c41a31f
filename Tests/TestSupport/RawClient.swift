import Foundation
import Glibc

/// A blocking TCP client for tests: sends exact bytes, reads raw responses.
public final class RawClient {
    public private(set) var fd: Int32

    public init(port: Int, timeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        // deinit still runs after a throwing init: it closes the socket, once
        // (closing here too would close whatever another thread opened meanwhile under that number).
        guard rc == 0 else { throw ConnectError() }
    }

    deinit { close(fd) }

    public func send(_ text: String) { send(Array(text.utf8)) }
    public func send(_ bytes: [UInt8]) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, bytes.count - off) }
            if n <= 0 { return }
            off += n
        }
    }

    /// Shuts the sending side (the server sees EOF).
    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    private var buffer: [UInt8] = []

    /// Reads more bytes; false on EOF or timeout.
    @discardableResult
    public func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    public struct Response {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One complete response (content-length or chunked), or nil if the connection ended first.
    public func readResponse(head: Bool = false) -> Response? {
        while true {
            if let end = find([13, 10, 13, 10]) {
                let headText = String(decoding: buffer[0..<end], as: UTF8.self)
                var lines = headText.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst()
                let status = Int(statusLine.split(separator: " ")[1]) ?? 0
                var headers: [String: String] = [:]
                for l in lines { if let c = l.firstIndex(of: ":") { headers[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces) } }
                let bodyStart = end + 4
                if status == 100 { buffer.removeFirst(bodyStart); return Response(status: 100, headers: headers, body: []) }
                if head { buffer.removeFirst(bodyStart); return Response(status: status, headers: headers, body: []) }
                if let cl = headers["content-length"].flatMap(Int.init) {
                    while buffer.count < bodyStart + cl { if !fill() { return nil } }
                    let body = Array(buffer[bodyStart..<(bodyStart + cl)])
                    buffer.removeFirst(bodyStart + cl)
                    return Response(status: status, headers: headers, body: body)
                }
                if headers["transfer-encoding"] == "chunked" {
                    buffer.removeFirst(bodyStart)
                    var body: [UInt8] = []
                    while true {
                        guard let lineEnd = waitFor([13, 10]) else { return nil }
                        let size = Int(String(decoding: buffer[0..<lineEnd], as: UTF8.self), radix: 16) ?? 0
                        while buffer.count < lineEnd + 2 + size + 2 { if !fill() { return nil } }
                        body.append(contentsOf: buffer[(lineEnd + 2)..<(lineEnd + 2 + size)])
                        buffer.removeFirst(lineEnd + 2 + size + 2)
                        if size == 0 { return Response(status: status, headers: headers, body: body) }
                    }
                }
                buffer.removeFirst(bodyStart)
                return Response(status: status, headers: headers, body: [])
            }
            if !fill() { return nil }
        }
    }

    /// Reads until the server closes; true if it did close (EOF) rather than time out.
    public func readUntilClosed() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return true }
            if n < 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }

    /// Exactly `n` bytes (after whatever a response read left over); nil on EOF or timeout.
    public func readBytes(_ n: Int) -> [UInt8]? {
        while buffer.count < n { if !fill() { return nil } }
        defer { buffer.removeFirst(n) }
        return Array(buffer[0..<n])
    }

    /// Reads the raw bytes of a chunked stream until `needle` appears.
    public func readStream(until needle: String) -> String? {
        let target = Array(needle.utf8)
        while find(target) == nil { if !fill() { return nil } }
        return String(decoding: buffer, as: UTF8.self)
    }

    private func waitFor(_ pattern: [UInt8]) -> Int? {
        while true {
            if let i = find(pattern) { return i }
            if !fill() { return nil }
        }
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for i in 0...(buffer.count - pattern.count) where buffer[i] == pattern[0] && Array(buffer[i..<(i + pattern.count)]) == pattern { return i }
        return nil
    }
}

public struct ConnectError: Error {}

extension RawClient {
    /// One request with a JSON body on a fresh connection; nil if the server is unreachable or hung up.
    public static func post(port: Int, path: String, json: String, headers: [(String, String)] = []) -> Response? {
        guard let c = try? RawClient(port: port) else { return nil }
        let extra = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
        c.send("POST \(path) HTTP/1.1\r\nHost: t\r\n\(extra)Content-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)")
        return c.readResponse()
    }

    public static func get(port: Int, path: String, headers: [(String, String)] = []) -> Response? {
        guard let c = try? RawClient(port: port) else { return nil }
        let extra = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
        c.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\(extra)\r\n")
        return c.readResponse()
    }
}
