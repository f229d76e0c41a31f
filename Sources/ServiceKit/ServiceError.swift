import APIRuntime
import Generated
import HTTPServer
import ProtoWire

/// A typed error a handler throws; the server maps it to the JSON error
/// envelope `{"error":{"code","message","details"}}` in one place.
public struct ServiceError: HTTPResponseError, Sendable {
    public var status: Int
    public var code: String
    public var message: String
    public var details: [String]
    public var extraHeaders: [(String, String)]
    /// Extra envelope fields (cursor hints, actual seq, reason code).
    public var configure: (@Sendable (inout RuntimeV1.ErrorBody) -> Void)?

    public init(_ status: Int, _ code: String, _ message: String, details: [String] = [], headers: [(String, String)] = [], configure: (@Sendable (inout RuntimeV1.ErrorBody) -> Void)? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.extraHeaders = headers
        self.configure = configure
    }

    public static func invalidRequest(_ m: String, details: [String] = []) -> ServiceError { ServiceError(400, "invalid_request", m, details: details) }
    public static func notFound(_ m: String = "not found") -> ServiceError { ServiceError(404, "not_found", m) }
    public static func conflict(_ m: String) -> ServiceError { ServiceError(409, "conflict", m, headers: [("cache-control", "no-store")]) }

    /// A domain error in this envelope: the one place a kind becomes a status.
    public init(_ e: APIError) {
        let status: Int
        switch e.kind {
        case .invalidRequest: status = 400
        case .unauthorized: status = 401
        case .forbidden: status = 403
        case .notFound: status = 404
        case .conflict: status = 409
        case .staleCursor: status = 410
        case .payloadTooLarge: status = 413
        case .unprocessable: status = 422
        case .rateLimited: status = 429
        case .unavailable, .writeFrozen: status = 503
        case .internal: status = 500
        }
        let h = e.hints
        var configure: (@Sendable (inout RuntimeV1.ErrorBody) -> Void)?
        if h != APIError.Hints() {
            configure = { (body: inout RuntimeV1.ErrorBody) in
                if let v = h.reasonCode { body.reasonCode = v }
                if let v = h.oldestAvailableCursor { body.oldestAvailableCursor = v }
                if let v = h.headCursor { body.headCursor = v }
                if let v = h.actualPreviousSeq { body.actualPreviousSeq = v }
                if let v = h.retryAfterMs { body.retryAfterMs = v }
            }
        }
        self.init(status, e.code, e.message, details: e.details, configure: configure)
    }

    /// Any error on its way out: a domain error is mapped, the rest pass.
    public static func mapped(_ error: Error) -> Error {
        if let e = error as? APIError { return ServiceError(e) }
        return error
    }

    /// The server core's own failures in this envelope.
    public static let rendering = ErrorRendering { f in ServiceError(f.status, f.code, f.message, headers: f.headers).response }

    /// The envelope as a response (int64 fields as JSON numbers, per DECISIONS.md).
    public var response: HTTPResponse {
        var body = RuntimeV1.ErrorBody()
        body.code = code
        body.message = message
        body.details = details.map { d in var v = GoogleProtobuf.Value(); v.kind = .stringValue(d); return v }
        configure?(&body)
        var envelope = RuntimeV1.ErrorEnvelope()
        envelope.error = body
        let bytes = (try? envelope.jsonBytes(options: .init(int64AsNumbers: true))) ?? Array("{\"error\":{\"code\":\"internal_error\",\"message\":\"error encoding failed\"}}".utf8)
        var r = HTTPResponse.json(status, bytes)
        for (k, v) in extraHeaders { r.headers.add(k, v) }
        if [409, 410, 429].contains(status) && r.headers["cache-control"] == nil { r.headers.add("cache-control", "no-store") }
        return r
    }
}
