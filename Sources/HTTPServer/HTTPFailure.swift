/// A failure the server core produces itself (no route, wrong method, a
/// malformed request, the connection cap). The core knows no envelope: the
/// service layer renders these through `HTTPServer.errors`.
public struct HTTPFailure: Error, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    public var headers: [(String, String)]
    public init(_ status: Int, _ code: String, _ message: String, headers: [(String, String)] = []) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// The error code for a status the server itself produces.
    public static func code(for status: Int) -> String {
        switch status {
        case 400, 405, 408, 417, 431, 505: return "invalid_request"
        case 401: return "unauthorized"
        case 403: return "forbidden"
        case 404: return "not_found"
        case 409: return "conflict"
        case 410: return "stale_cursor"
        case 413: return "payload_too_large"
        case 415: return "invalid_request"
        case 429: return "rate_limited"
        case 501, 503: return "service_unavailable"
        default: return "internal_error"
        }
    }
}

/// An error that knows its HTTP response (Hummingbird's `HTTPResponseError`).
/// Anything else a handler throws is a 500.
public protocol HTTPResponseError: Error {
    var response: HTTPResponse { get }
}

/// How the server turns failures into responses.
public struct ErrorRendering: Sendable {
    public let failure: @Sendable (HTTPFailure) -> HTTPResponse
    public init(failure: @escaping @Sendable (HTTPFailure) -> HTTPResponse) { self.failure = failure }

    /// `{"error":{"code","message"}}`, the shape every service here uses.
    public static let plain = ErrorRendering { f in
        var r = HTTPResponse.json(f.status, Array("{\"error\":{\"code\":\(jsonQuote(f.code)),\"message\":\(jsonQuote(f.message))}}".utf8))
        for (k, v) in f.headers { r.headers.add(k, v) }
        return r
    }
}

/// A JSON string literal.
public func jsonQuote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
