/// Routes by method and path. A path that matches no route is 404; one that
/// matches with another method is 405 with `Allow`. Patterns are either the
/// simple `/internal/v1/runs/:run_id` form or a matcher the caller supplies
/// (the service kit's path templates); the path is split once per request.
public struct Router: Sendable {
    public typealias AsyncHandler = @Sendable (HTTPRequest) async throws -> HTTPResponse
    public typealias SyncHandler = @Sendable (HTTPRequest) throws -> HTTPResponse
    /// Variables when the path's segments match, nil otherwise.
    public typealias Matcher = @Sendable ([Substring]) -> [String: String]?

    /// Sync handlers run inline on the event loop (no task hop): for quick,
    /// non-blocking work. Async handlers start inline too (`Task.immediate`) and
    /// are answered inline unless they suspend.
    public enum Handler: Sendable {
        case sync(SyncHandler)
        case async(AsyncHandler)
    }

    struct Route: Sendable {
        let method: String
        let pattern: String
        let segments: [Substring]
        let matcher: Matcher?
        let handler: Handler
    }

    private(set) var routes: [Route] = []
    /// Each route's segment count (-1 for a matcher route), apart from the
    /// routes so that ruling one out by length touches nothing reference-counted.
    private var counts: [Int] = []
    /// Each simple route's literal segments as (position, hash) pairs, all in
    /// one flat array (route i's at `literals[literalRanges[i]]`): a route whose
    /// literal hashes differ from the path's is ruled out without comparing strings.
    private var literals: [Int] = []
    private var literalRanges: [Range<Int>] = []
    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: Handler) {
        append(Route(method: method, pattern: pattern, segments: pattern.split(separator: "/"), matcher: nil, handler: handler))
    }
    /// A route whose path `matcher` decides; `pattern` names it in logs and metrics.
    public mutating func add(_ method: String, _ pattern: String, matcher: @escaping Matcher, _ handler: Handler) {
        append(Route(method: method, pattern: pattern, segments: [], matcher: matcher, handler: handler))
    }

    private mutating func append(_ route: Route) {
        routes.append(route)
        counts.append(route.matcher == nil ? route.segments.count : -1)
        let start = literals.count
        for (j, segment) in route.segments.enumerated() where segment.first != ":" {
            literals.append(j)
            literals.append(segment.hashValue)
        }
        literalRanges.append(start..<literals.count)
    }
    public mutating func get(_ pattern: String, _ handler: @escaping AsyncHandler) { add("GET", pattern, .async(handler)) }
    public mutating func post(_ pattern: String, _ handler: @escaping AsyncHandler) { add("POST", pattern, .async(handler)) }
    public mutating func getSync(_ pattern: String, _ handler: @escaping SyncHandler) { add("GET", pattern, .sync(handler)) }
    public mutating func postSync(_ pattern: String, _ handler: @escaping SyncHandler) { add("POST", pattern, .sync(handler)) }

    public enum Match {
        case found(Handler, params: [String: String], pattern: String)
        case methodNotAllowed(allow: [String])
        case notFound
    }

    public func match(method: String, path: String) -> Match {
        // Split on bytes: String's Character-based split costs more than the match itself.
        let segments = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst().map { Substring($0) }
        // Simple patterns ignore empty segments (`//`, a trailing `/`), as they always have.
        let simple = segments.contains(where: { $0.isEmpty }) ? segments.filter { !$0.isEmpty } : segments
        var hashes: [Int] = []
        var allowed: [String] = []
        scan: for i in routes.indices {
            if counts[i] >= 0 {
                if counts[i] != simple.count { continue }
                if hashes.isEmpty { hashes = simple.map { $0.hashValue } }
                for k in stride(from: literalRanges[i].lowerBound, to: literalRanges[i].upperBound, by: 2) where hashes[literals[k]] != literals[k + 1] {
                    continue scan
                }
            }
            var params: [String: String]
            if let matcher = routes[i].matcher {
                guard let p = matcher(segments) else { continue }
                params = p
            } else {
                params = [:]
                var ok = true
                for (s, p) in zip(routes[i].segments, simple) {
                    if s.first == ":" { params[String(s.dropFirst())] = percentDecode(String(p)) } else if s != p { ok = false; break }
                }
                guard ok else { continue }
            }
            let r = routes[i]
            if r.method == method || (method == "HEAD" && r.method == "GET") { return .found(r.handler, params: params, pattern: r.pattern) }
            allowed.append(r.method)
        }
        if allowed.isEmpty { return .notFound }
        if allowed.contains("GET") { allowed.append("HEAD") }
        return .methodNotAllowed(allow: Array(Set(allowed)).sorted())
    }
}
