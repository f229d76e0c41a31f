import Glibc
import Synchronization

/// Calls a `Router` in this process the way a connection would (request id,
/// trace context, 404/405, handler errors rendered, metrics recorded), without
/// a socket: how one service reaches another that runs in the same process
/// (the control service's calls to the runtime of the same `serve`). Only
/// unary answers: a streaming route is refused with 501.
public final class RouterClient: Sendable {
    public let router: Router
    public let errors: ErrorRendering
    public let metrics: Metrics?
    private let ids = Mutex(IDGenerator())

    public init(router: Router, errors: ErrorRendering = .plain, metrics: Metrics? = nil) {
        self.router = router
        self.errors = errors
        self.metrics = metrics
    }

    public func send(method: String, target: String, headers: [(String, String)], body: [UInt8]) async -> HTTPClient.Response {
        let start = Self.seconds()
        var request = HTTPRequest(method: method, target: target, headers: HTTPHeaders(headers), body: body)
        ids.withLock { request.decorate(ids: &$0) }
        let response: HTTPResponse
        switch router.match(method: method, path: request.path) {
        case .notFound:
            request.route = "unmatched"
            response = errors.failure(HTTPFailure(404, "not_found", "no route for \(request.path)"))
        case .methodNotAllowed(let allow):
            request.route = "unmatched"
            response = errors.failure(HTTPFailure(405, "invalid_request", "method \(method) not allowed", headers: [("allow", allow.joined(separator: ", "))]))
        case .found(let handler, let params, let pattern):
            request.params = params
            request.route = pattern
            do {
                switch handler {
                case .sync(let h): response = try h(request)
                case .async(let h): response = try await h(request)
                }
            } catch {
                response = render(error)
            }
        }
        var out = HTTPClient.Response(status: response.status, headers: response.headers.fields.map { ($0.name, $0.value) }, body: [])
        switch response.body {
        case .bytes(let b): out.body = b
        default:
            let refused = errors.failure(HTTPFailure(501, "not_implemented", "\(request.route) streams; call it over HTTP"))
            out = HTTPClient.Response(status: refused.status, headers: refused.headers.fields.map { ($0.name, $0.value) }, body: [])
            if case .bytes(let b) = refused.body { out.body = b }
        }
        metrics?.record(route: request.route, method: method, status: out.status, seconds: Self.seconds() - start)
        return out
    }

    static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private func render(_ error: Error) -> HTTPResponse {
        if let e = error as? any HTTPResponseError { return e.response }
        if let f = error as? HTTPFailure { return errors.failure(f) }
        return errors.failure(HTTPFailure(500, "internal_error", "internal error"))
    }
}
