import APIRuntime
import Generated
import HTTPServer
import RuntimeCore
import ServiceKit

/// `auth: AUTH_SYNC_TOKEN` routes (Khala): the origin policy, the bearer
/// sync token and the topic ACL, in that order, before the request is decoded
/// or a WebSocket upgraded. The principal goes into the context's claims.
struct SyncTokenMiddleware: RouteMiddleware {
    let khala: Khala?
    func applies(to route: RouteDescriptor) -> Bool { route.auth == .syncToken }

    func handle(_ request: HTTPRequest, context: RequestContext, next: (HTTPRequest, RequestContext) async throws -> HTTPResponse) async throws -> HTTPResponse {
        guard let khala else { throw ServiceError(503, "service_unavailable", "the event log is not open") }
        var c = context
        do {
            c.claims = try khala.admit(topic: PercentEncoding.decode(request.params["topic"] ?? "", keepReserved: false), origin: request.headers["origin"],
                                       authorization: request.headers["authorization"])
            return try await next(request, c)
        } catch let e as KhalaError {
            throw ServiceError(e)
        }
    }
}

extension ServiceError {
    /// Khala's refusals in the runtime envelope: the one place they become HTTP.
    init(_ e: KhalaError) {
        var headers: [(String, String)] = [("cache-control", "no-store")]
        if let retry = e.retryAfterMs { headers.append(("retry-after", String((retry + 999) / 1000))) }
        self.init(e.status, e.code, e.message, headers: headers) { body in
            if let r = e.reasonCode { body.reasonCode = r }
            if let r = e.retryAfterMs { body.retryAfterMs = r }
            if let d = e.staleCursor {
                body.staleCursor = d
                body.oldestAvailableCursor = d.oldestAvailableCursor
                body.headCursor = d.headCursor
            }
            if let d = e.slowConsumer { body.slowConsumer = d }
        }
    }
}
