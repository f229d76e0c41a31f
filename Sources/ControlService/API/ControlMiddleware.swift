import ProtoWire
import APIRuntime
import Generated
import HTTPServer
import RuntimeCore
import ServiceKit

/// `auth: AUTH_SESSION` routes: the bearer session is verified (format, MAC,
/// lifetime, durable revocations) before the request is decoded, and handed
/// to the handler in the context. Nothing else in the service checks tokens.
public struct SessionMiddleware: RouteMiddleware {
    let tokens: SessionTokens
    let store: RecordLog<ControlState>

    public init(tokens: SessionTokens, store: RecordLog<ControlState>) {
        self.tokens = tokens
        self.store = store
    }

    public func applies(to route: RouteDescriptor) -> Bool { route.auth == .session }

    public func handle(_ request: HTTPRequest, context: RequestContext, next: (HTTPRequest, RequestContext) async throws -> HTTPResponse) async throws -> HTTPResponse {
        let revocations = store.read { $0.revocations }
        var c = context
        c.claims = try tokens.verify(authorization: request.headers["authorization"], revocations: revocations)
        return try await next(request, c)
    }
}

/// The control envelope (reference-system.md 3.2): `{message, error:{code,
/// message}, errors?:{field:[messages]}}`, with `invalid_request` as 422.
/// The one place a control error becomes a response.
public enum ControlErrors {
    public static func render(_ e: ServiceError) -> HTTPResponse {
        let status = e.status == 400 && e.code == "invalid_request" ? 422 : e.status
        var envelope = ControlV1.ControlErrorEnvelope()
        envelope.message = e.message
        var body = ControlV1.ControlErrorBody()
        body.code = e.code
        body.message = e.message
        envelope.error = body
        var fields: [String: [String]] = [:]
        for d in e.details {
            guard let colon = d.firstIndex(of: ":") else { continue }
            fields[String(d[..<colon]), default: []].append(String(d[d.index(after: colon)...]).whitespaceTrimmed)
        }
        if !fields.isEmpty {
            var s = GoogleProtobuf.Struct()
            for (k, messages) in fields {
                var list = GoogleProtobuf.ListValue()
                list.values = messages.map { m in var v = GoogleProtobuf.Value(); v.kind = .stringValue(m); return v }
                var v = GoogleProtobuf.Value()
                v.kind = .listValue(list)
                s.fields[k] = v
            }
            envelope.errors = s
        }
        let bytes = (try? envelope.jsonBytes()) ?? Array(#"{"message":"error encoding failed","error":{"code":"internal_error","message":"error encoding failed"}}"#.utf8)
        var r = HTTPResponse.json(status, bytes)
        for (k, v) in e.extraHeaders { r.headers.add(k, v) }
        if [409, 410, 429].contains(status) && r.headers["cache-control"] == nil { r.headers.add("cache-control", "no-store") }
        return r
    }

    /// The server core's own failures (no route, oversized or malformed requests) in this envelope.
    public static let rendering = ErrorRendering { f in render(ServiceError(f.status, f.code, f.message, headers: f.headers)) }
}
