/// An error in the API's vocabulary, thrown by the domain and storage: a kind,
/// the envelope's code and message, details, and the hints some errors carry.
/// It knows no HTTP status; the service kit maps `kind` to one in one place
/// (REST) and to a Connect code (Connect).
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case invalidRequest, unprocessable, unauthorized, forbidden, notFound, conflict
        case staleCursor, payloadTooLarge, rateLimited, unavailable, writeFrozen, `internal`
    }

    /// What a client needs to recover: where to restart, what the latest seq is.
    public struct Hints: Sendable, Equatable {
        public var reasonCode: String?
        public var oldestAvailableCursor: UInt64?
        public var headCursor: UInt64?
        public var actualPreviousSeq: UInt64?
        public var retryAfterMs: UInt32?
        public init(reasonCode: String? = nil, oldestAvailableCursor: UInt64? = nil, headCursor: UInt64? = nil, actualPreviousSeq: UInt64? = nil, retryAfterMs: UInt32? = nil) {
            self.reasonCode = reasonCode
            self.oldestAvailableCursor = oldestAvailableCursor
            self.headCursor = headCursor
            self.actualPreviousSeq = actualPreviousSeq
            self.retryAfterMs = retryAfterMs
        }
    }

    public var kind: Kind
    public var code: String
    public var message: String
    public var details: [String]
    public var hints: Hints

    public init(_ kind: Kind, _ code: String, _ message: String, details: [String] = [], hints: Hints = Hints()) {
        self.kind = kind
        self.code = code
        self.message = message
        self.details = details
        self.hints = hints
    }

    public static func invalidRequest(_ m: String, details: [String] = []) -> APIError { APIError(.invalidRequest, "invalid_request", m, details: details) }
    public static func notFound(_ m: String = "not found") -> APIError { APIError(.notFound, "not_found", m) }
    public static func conflict(_ m: String, hints: Hints = Hints()) -> APIError { APIError(.conflict, "conflict", m, hints: hints) }
    public static func forbidden(_ m: String) -> APIError { APIError(.forbidden, "forbidden", m) }
    public static func unauthorized(_ m: String) -> APIError { APIError(.unauthorized, "unauthorized", m) }
    public static func internalError(_ m: String) -> APIError { APIError(.internal, "internal_error", m) }
    public static func unavailable(_ m: String) -> APIError { APIError(.unavailable, "service_unavailable", m) }

    public var description: String { "\(code): \(message)" }
}
