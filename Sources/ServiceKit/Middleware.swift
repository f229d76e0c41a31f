import Foundation
import APIRuntime
import HTTPServer
import ProtoWire

/// Cross-cutting policy around every generated route (Hummingbird's
/// `handle(request, context, next)`): declared on the rpc, applied here once,
/// never re-checked in handlers. Runs before the request is decoded.
public protocol RouteMiddleware: Sendable {
    /// Whether the route's declaration asks for this policy at all; the binder
    /// builds each route's chain once from the ones that apply.
    func applies(to route: RouteDescriptor) -> Bool
    func handle(_ request: HTTPRequest, context: RequestContext,
                next: (HTTPRequest, RequestContext) async throws -> HTTPResponse) async throws -> HTTPResponse
}

extension RouteMiddleware {
    public func applies(to route: RouteDescriptor) -> Bool { true }
}

/// Runs after the typed request is decoded, before the handler: checks that
/// need the request's fields (a credential bound to a body `thread_id`).
public protocol RequestCheck: Sendable {
    func check(_ fields: DecodedFields, context: RequestContext) throws
}

/// Top-level fields of a decoded request by proto name, read on demand.
public struct DecodedFields {
    let message: any ProtoMessage
    private var cache: [String: String]?

    init(_ message: any ProtoMessage) { self.message = message }

    /// Set top-level fields: strings as their text, others as their JSON.
    public mutating func values() -> [String: String] {
        if let cache { return cache }
        var out: [String: String] = [:]
        let json = (try? message.jsonBytes(options: JSONEncodingOptions(preserveProtoFieldNames: true))) ?? []
        json.withUnsafeBytes { buf in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            try? r.readObject { (r: inout JSONReader, key: String) throws(JSONDecodingError) in
                if r.peek() == UInt8(ascii: "\"") { out[key] = try r.readString() } else {
                    let start = r.position
                    try r.skipValue()
                    out[key] = String(decoding: json[start..<r.position], as: UTF8.self)
                }
            }
        }
        cache = out
        return out
    }

    public mutating func string(_ name: String) -> String { values()[name] ?? "" }
}

/// `writes: true` routes answer 503 `write_path_frozen` while writes are frozen.
public struct WriteFreezeMiddleware: RouteMiddleware {
    /// Why writes are frozen, or nil when they are accepted.
    let frozen: @Sendable () -> String?
    public init(frozen: @escaping @Sendable () -> String?) { self.frozen = frozen }
    public func applies(to route: RouteDescriptor) -> Bool { route.writes }

    public func handle(_ request: HTTPRequest, context: RequestContext, next: (HTTPRequest, RequestContext) async throws -> HTTPResponse) async throws -> HTTPResponse {
        if context.route.writes, let why = frozen() { throw ServiceError(503, "write_path_frozen", why) }
        return try await next(request, context)
    }
}

/// Reads the principal headers into the context and enforces the route's rule.
public struct PrincipalMiddleware: RouteMiddleware {
    public init() {}
    public func applies(to route: RouteDescriptor) -> Bool { route.principal != .none }
    public func handle(_ request: HTTPRequest, context: RequestContext, next: (HTTPRequest, RequestContext) async throws -> HTTPResponse) async throws -> HTTPResponse {
        var c = context
        let user = request.headers["x-oa-user-id"]?.whitespaceTrimmed ?? ""
        let guest = request.headers["x-oa-guest-scope"]?.whitespaceTrimmed ?? ""
        c.principal = RequestPrincipal(userID: user, guestScope: guest)
        switch context.route.principal {
        case .required where c.principal.isEmpty: throw ServiceError.invalidRequest("x-oa-user-id or x-oa-guest-scope is required")
        case .userRequired where user.isEmpty: throw ServiceError.invalidRequest("x-oa-user-id is required")
        default: break
        }
        return try await next(request, c)
    }
}
