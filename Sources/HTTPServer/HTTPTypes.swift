/// Header fields in arrival order; names compare case-insensitively.
public struct HTTPHeaders: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []
    public init(_ fields: [(String, String)] = []) { self.fields = fields.map { (name: $0.0, value: $0.1) } }

    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }
    public func values(_ name: String) -> [String] { fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value) }
    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }
    public mutating func set(_ name: String, _ value: String) {
        fields.removeAll { $0.name.caseInsensitiveEquals(name) }
        fields.append((name, value))
    }
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        utf8.count == other.utf8.count && zip(utf8, other.utf8).allSatisfy { a, b in (a | 0x20) == (b | 0x20) || a == b }
    }
}

/// W3C trace context carried by a request (traceparent/tracestate).
public struct TraceContext: Sendable {
    public var traceID: String
    /// The caller's span (from traceparent), if any.
    public var parentID: String?
    /// Our span for this request.
    public var spanID: String
    public var flags: String
    public var state: String?

    public var traceparent: String { "00-\(traceID)-\(spanID)-\(flags)" }
}

/// A parsed request as handlers see it.
public struct HTTPRequest: Sendable {
    public var method: String
    public var target: String
    public var path: String
    public var query: String
    public var version: Int  // 10 or 11
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// `:name` segments of the matched route.
    public var params: [String: String] = [:]
    public var requestID: String = ""
    public var trace = TraceContext(traceID: "", parentID: nil, spanID: "", flags: "00", state: nil)
    /// The route pattern that matched (for metrics and logs).
    public var route: String = ""

    /// Decoded query parameters (last one wins for repeated names).
    public var queryItems: [String: String] {
        var out: [String: String] = [:]
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[percentDecode(String(kv[0]))] = kv.count > 1 ? percentDecode(String(kv[1])) : ""
        }
        return out
    }
}

func percentDecode(_ s: String) -> String {
    guard s.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else { return s }
    var out: [UInt8] = []
    var bytes = Array(s.utf8)[...]
    while let b = bytes.popFirst() {
        if b == UInt8(ascii: "+") { out.append(0x20); continue }
        if b == UInt8(ascii: "%"), bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
            out.append(v)
            bytes = bytes.dropFirst(2)
            continue
        }
        out.append(b)
    }
    return String(decoding: out, as: UTF8.self)
}

/// Writes server-sent events to a streaming response. `send` returns false
/// once the client is gone or too slow (its buffer over the limit): stop then.
public struct EventStreamWriter: Sendable {
    let sink: @Sendable ([UInt8]) async -> Bool
    let poster: (@Sendable ([UInt8]) -> Bool)?
    public init(sink: @escaping @Sendable ([UInt8]) async -> Bool, post: (@Sendable ([UInt8]) -> Bool)? = nil) {
        self.sink = sink
        self.poster = post
    }

    public func send(id: String? = nil, event: String? = nil, data: String) async -> Bool {
        var text = ""
        if let event { text += "event: \(event)\n" }
        if let id { text += "id: \(id)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        text += "\n"
        return await sink(Array(text.utf8))
    }

    /// Bytes already framed as one or more events (written as one chunk).
    public func send(frames: [UInt8]) async -> Bool { await sink(frames) }

    /// Like `send(frames:)`, from synchronous code and without waiting for the
    /// connection's loop to take the bytes (no thread hop back per event). False
    /// when the writer has no loop to post to, or once the stream is known to be
    /// gone or over its buffer limit (a loss shows up one post late).
    public func postNow(frames: [UInt8]) -> Bool { poster?(frames) ?? false }

    /// A comment line (`: heartbeat`), used as a keep-alive.
    public func comment(_ text: String) async -> Bool { await sink(Array(": \(text)\n\n".utf8)) }
}

public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Server-sent events: the closure runs until it returns or the client goes away.
        case eventStream(@Sendable (EventStreamWriter) async -> Void)
        /// A 101 upgrade: after the head the connection speaks RFC 6455 and the closure owns it until it returns.
        case webSocket(@Sendable (WebSocket) async -> Void)
    }
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = .bytes(body)
    }

    public static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("content-type", "application/json")]), body: body)
    }

    /// The 101 answer to a valid upgrade (check `WebSocketHandshake.problem` first).
    public static func webSocket(_ request: HTTPRequest, _ run: @escaping @Sendable (WebSocket) async -> Void) -> HTTPResponse {
        let key = request.headers["sec-websocket-key"]?.trimmingCharacters(in: .whitespaces) ?? ""
        var r = HTTPResponse(status: 101, headers: HTTPHeaders([("upgrade", "websocket"), ("connection", "Upgrade"),
                                                               ("sec-websocket-accept", WebSocketHandshake.acceptKey(key))]))
        r.body = .webSocket(run)
        return r
    }

    public static func eventStream(_ run: @escaping @Sendable (EventStreamWriter) async -> Void) -> HTTPResponse {
        var r = HTTPResponse(status: 200, headers: HTTPHeaders([("content-type", "text/event-stream"), ("cache-control", "no-store")]))
        r.body = .eventStream(run)
        return r
    }
}

enum StatusText {
    static func of(_ code: Int) -> String {
        switch code {
        case 100: return "Continue"
        case 101: return "Switching Protocols"
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(code)"
        }
    }
}
