/// Limits the parser enforces.
public struct HTTPLimits: Sendable {
    public var maxHeaderBytes = 16 * 1024
    public var maxHeaderCount = 100
    public var maxBodyBytes = 1024 * 1024
    public init(maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1024 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }
}

/// A request that cannot be served; the connection is answered and closed.
public struct HTTPParseError: Error, Equatable, Sendable {
    public let status: Int
    public let message: String
}

/// The head of a request plus how its body is framed.
struct RequestHead {
    var method: String
    var target: String
    var version: Int
    var headers: HTTPHeaders
    enum Framing: Equatable { case none, length(Int), chunked }
    var framing: Framing
    var expectContinue: Bool
    var keepAlive: Bool
}

/// Strict HTTP/1.1 request parsing (RFC 9112): CRLF line endings only, no
/// obs-fold, no whitespace before a header colon, one unambiguous framing.
/// Anything that could be read two ways (request smuggling) is a 400.
enum HTTPParser {
    static func isToken(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
        default: return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }

    /// Parses a head from `buf[start...]`. Returns nil when more bytes are needed,
    /// else the head and the index just past its blank line.
    static func parseHead(_ buf: [UInt8], from start: Int, limits: HTTPLimits) throws(HTTPParseError) -> (RequestHead, Int)? {
        var i = start
        // Tolerate empty lines before the request line (RFC 9112 2.2).
        while i + 1 < buf.count, buf[i] == 0x0D, buf[i + 1] == 0x0A { i += 2 }
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = i
        var end = -1
        while i < buf.count {
            if i - start > limits.maxHeaderBytes { throw HTTPParseError(status: 431, message: "request header section larger than \(limits.maxHeaderBytes) bytes") }
            if buf[i] == 0x0A {
                guard i > lineStart, buf[i - 1] == 0x0D else { throw HTTPParseError(status: 400, message: "bare LF in request head") }
                if i - 1 == lineStart { end = i + 1; break }
                lines.append(buf[lineStart..<(i - 1)])
                if lines.count > limits.maxHeaderCount + 1 { throw HTTPParseError(status: 431, message: "more than \(limits.maxHeaderCount) header fields") }
                lineStart = i + 1
            } else if buf[i] == 0x0D, i + 1 < buf.count, buf[i + 1] != 0x0A {
                throw HTTPParseError(status: 400, message: "bare CR in request head")
            }
            i += 1
        }
        if end < 0 {
            if buf.count - start > limits.maxHeaderBytes { throw HTTPParseError(status: 431, message: "request header section larger than \(limits.maxHeaderBytes) bytes") }
            return nil
        }
        guard let requestLine = lines.first else { throw HTTPParseError(status: 400, message: "missing request line") }
        let parts = requestLine.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isToken), !parts[1].isEmpty,
              parts[1].allSatisfy({ $0 > 0x20 && $0 != 0x7F }) else {
            throw HTTPParseError(status: 400, message: "malformed request line")
        }
        let version: Int
        switch String(decoding: parts[2], as: UTF8.self) {
        case "HTTP/1.1": version = 11
        case "HTTP/1.0": version = 10
        default:
            if parts[2].starts(with: Array("HTTP/".utf8)) { throw HTTPParseError(status: 505, message: "unsupported HTTP version") }
            throw HTTPParseError(status: 400, message: "malformed request line")
        }
        var headers = HTTPHeaders()
        for line in lines.dropFirst() {
            guard let first = line.first else { continue }
            if first == 0x20 || first == 0x09 { throw HTTPParseError(status: 400, message: "obsolete line folding in header") }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else { throw HTTPParseError(status: 400, message: "malformed header field") }
            let name = line[line.startIndex..<colon]
            guard name.allSatisfy(isToken) else { throw HTTPParseError(status: 400, message: "invalid header field name") }
            var value = line[(colon + 1)...]
            while let f = value.first, f == 0x20 || f == 0x09 { value = value.dropFirst() }
            while let l = value.last, l == 0x20 || l == 0x09 { value = value.dropLast() }
            guard value.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }) else { throw HTTPParseError(status: 400, message: "invalid character in header value") }
            headers.add(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
        if version == 11 && headers.values("host").count != 1 { throw HTTPParseError(status: 400, message: "HTTP/1.1 requests need exactly one Host header") }

        // Framing: exactly one way to find the end of the body.
        let te = headers.values("transfer-encoding")
        let cl = headers.values("content-length")
        var framing = RequestHead.Framing.none
        if !te.isEmpty {
            if !cl.isEmpty { throw HTTPParseError(status: 400, message: "both Content-Length and Transfer-Encoding") }
            if version == 10 { throw HTTPParseError(status: 400, message: "Transfer-Encoding in an HTTP/1.0 request") }
            let codings = te.flatMap { $0.split(separator: ",") }.map { owsTrimmed($0).lowercased() }
            guard codings.last == "chunked" else { throw HTTPParseError(status: 400, message: "chunked must be the final transfer coding") }
            if codings.dropLast().contains("chunked") { throw HTTPParseError(status: 400, message: "chunked applied more than once") }
            if codings.count > 1 { throw HTTPParseError(status: 501, message: "transfer coding not supported") }
            framing = .chunked
        } else if !cl.isEmpty {
            let values = Set(cl.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map { owsTrimmed($0) })
            guard values.count == 1, let v = values.first, !v.isEmpty, v.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), v.utf8.count <= 15, let n = Int(v) else {
                throw HTTPParseError(status: 400, message: "invalid or conflicting Content-Length")
            }
            if n > limits.maxBodyBytes { throw HTTPParseError(status: 413, message: "request body larger than \(limits.maxBodyBytes) bytes") }
            framing = n > 0 ? .length(n) : .none
        }
        let connection = headers.values("connection").flatMap { $0.split(separator: ",") }.map { owsTrimmed($0).lowercased() }
        let keepAlive = version == 11 ? !connection.contains("close") : connection.contains("keep-alive")
        let expect = headers["expect"]?.lowercased()
        if let expect, expect != "100-continue" { throw HTTPParseError(status: 417, message: "unsupported expectation") }
        return (RequestHead(method: String(decoding: parts[0], as: UTF8.self), target: String(decoding: parts[1], as: UTF8.self),
                            version: version, headers: headers, framing: framing, expectContinue: expect != nil && framing != .none, keepAlive: keepAlive), end)
    }

    /// A list element without the optional whitespace around it (RFC 9110 5.6.1:
    /// spaces and tabs only), on bytes: Foundation's trimming is the slow part of a head.
    static func owsTrimmed(_ s: Substring) -> String {
        let u = s.utf8
        var start = u.startIndex, end = u.endIndex
        while start < end, u[start] == 0x20 || u[start] == 0x09 { start = u.index(after: start) }
        while end > start, u[u.index(before: end)] == 0x20 || u[u.index(before: end)] == 0x09 { end = u.index(before: end) }
        return String(Substring(u[start..<end]))
    }

    /// Decodes a complete chunked body from `buf[start...]`; nil when incomplete.
    static func parseChunked(_ buf: [UInt8], from start: Int, limits: HTTPLimits) throws(HTTPParseError) -> ([UInt8], Int)? {
        var i = start
        var body: [UInt8] = []
        func line() throws(HTTPParseError) -> ArraySlice<UInt8>? {
            var j = i
            while j < buf.count {
                if buf[j] == 0x0A {
                    guard j > i, buf[j - 1] == 0x0D else { throw HTTPParseError(status: 400, message: "bare LF in chunked body") }
                    let l = buf[i..<(j - 1)]
                    i = j + 1
                    return l
                }
                j += 1
                if j - i > 4096 { throw HTTPParseError(status: 400, message: "chunk line too long") }
            }
            return nil
        }
        while true {
            guard let sizeLine = try line() else { return nil }
            let hex = sizeLine.prefix { $0 != UInt8(ascii: ";") }
            guard !hex.isEmpty, hex.count <= 8, let size = Int(String(decoding: hex, as: UTF8.self), radix: 16) else {
                throw HTTPParseError(status: 400, message: "invalid chunk size")
            }
            if size == 0 {
                // Trailer fields (ignored) up to the final empty line.
                while true {
                    guard let t = try line() else { return nil }
                    if t.isEmpty { return (body, i) }
                    if t.first == 0x20 || t.first == 0x09 { throw HTTPParseError(status: 400, message: "obsolete line folding in trailer") }
                }
            }
            if body.count + size > limits.maxBodyBytes { throw HTTPParseError(status: 413, message: "request body larger than \(limits.maxBodyBytes) bytes") }
            guard buf.count - i >= size + 2 else { return nil }
            body.append(contentsOf: buf[i..<(i + size)])
            i += size
            guard buf[i] == 0x0D, buf[i + 1] == 0x0A else { throw HTTPParseError(status: 400, message: "chunk data not followed by CRLF") }
            i += 2
        }
    }
}

import Foundation
