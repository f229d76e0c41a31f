import APIRuntime
import Dispatch
import Foundation
import Generated
import HTTPServer
import ProtoWire

/// Mounts a generated route table on the server core: each binding becomes a
/// REST route (binding rules, the service's envelope and statuses) and each
/// unary rpc also a Connect route (`POST /<pkg>.<Service>/<Method>`). Both
/// paths run the same middleware and call the same handler.
public struct RouteBinder: Sendable {
    public var middleware: [any RouteMiddleware]
    public var checks: [any RequestCheck]
    /// Serve Connect unary beside the REST bindings.
    public var connect = true
    /// The service's error envelope when it is not the runtime's (`ServiceError.response`).
    public var render: (@Sendable (ServiceError) -> HTTPResponse)?

    public init(middleware: [any RouteMiddleware] = [], checks: [any RequestCheck] = []) {
        self.middleware = middleware
        self.checks = checks
    }

    public func mount(_ routes: [BoundRoute], on router: inout Router) {
        var connectMounted: Set<String> = []
        for bound in routes {
            let d = bound.descriptor
            if !d.method.isEmpty {
                let template = d.template
                let handler = restHandler(bound)
                if let simple = Self.simplePattern(template) {
                    router.add(d.method, simple, .async(handler))
                } else {
                    router.add(d.method, template.source, matcher: { template.match(segments: $0) }, .async(handler))
                }
            }
            if connect, d.streaming == .unary, connectMounted.insert(d.connectPath).inserted {
                let handler = ConnectProtocol.handler(bound, binder: self)
                router.add("POST", d.connectPath, .async(handler))
                if d.noSideEffects { router.add("GET", d.connectPath, .async(handler)) }
            }
        }
    }

    /// `/runs/{run_id}` as the core's `:run_id` form when every variable is one
    /// whole segment (the fast, common case); nil for patterns, `**` and verbs.
    static func simplePattern(_ t: PathTemplate) -> String? {
        guard t.verb == nil, !t.segments.contains(.rest) else { return nil }
        var parts: [String] = []
        for (i, s) in t.segments.enumerated() {
            if let v = t.variables.first(where: { $0.start == i }) {
                guard !v.multiSegment, !v.fieldPath.contains(".") else { return nil }
                parts.append(":" + v.fieldPath)
                continue
            }
            switch s {
            case .literal(let l): parts.append(l)
            case .wildcard, .rest: return nil
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    static func context(_ request: HTTPRequest, _ route: RouteDescriptor) -> RequestContext {
        RequestContext(headers: request.headers.fields, requestID: request.requestID, traceparent: request.trace.traceparent, route: route)
    }

    /// The middleware that applies to a route, in order.
    func chain(for route: RouteDescriptor) -> [any RouteMiddleware] { middleware.filter { $0.applies(to: route) } }

    /// Runs `chain`, innermost `body` last.
    static func run(_ chain: [any RouteMiddleware], _ request: HTTPRequest, _ context: RequestContext, index: Int = 0,
                    _ body: (HTTPRequest, RequestContext) async throws -> HTTPResponse) async throws -> HTTPResponse {
        if index == chain.count { return try await body(request, context) }
        return try await chain[index].handle(request, context: context) { r, c in try await run(chain, r, c, index: index + 1, body) }
    }

    /// Required fields and the request checks, on the decoded message.
    func validate(_ message: any ProtoMessage, _ route: RouteDescriptor, _ context: RequestContext) throws {
        var fields = DecodedFields(message)
        if !route.requiredFields.isEmpty {
            let present = fields.values()
            let missing = route.requiredFields.filter { name in
                guard let v = present[name] else { return true }
                return v.whitespaceTrimmed.isEmpty
            }.sorted()
            if !missing.isEmpty {
                throw ServiceError.invalidRequest("\(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") required",
                                                  details: missing.map { "\($0): required" })
            }
        }
        for c in checks { try c.check(fields, context: context) }
    }

    func restHandler(_ bound: BoundRoute) -> Router.AsyncHandler {
        let d = bound.descriptor
        let chain = chain(for: d)
        return { [self] request in
          do {
            return try await Self.run(chain, request, Self.context(request, d)) { request, context in
                let decoder = RESTDecoder(request: request, route: d, binder: self, context: context)
                switch bound.invoke {
                case .unary(let call):
                    let out = try await call(decoder, context)
                    return Self.restResponse(out, d, request)
                case .serverStream(let call) where d.streaming == .webSocket:
                    // Middleware (auth, origin, ACL) has run: its 4xx come before any upgrade.
                    if let problem = WebSocketHandshake.problem(request) {
                        throw ServiceError(400, "invalid_request", problem, headers: [("sec-websocket-version", "13")])
                    }
                    let stream = try await call(decoder, context)
                    return HTTPResponse.webSocket(request) { socket in await stream.run(WebSocketSink(socket: socket)) }
                case .serverStream(let call):
                    let stream = try await call(decoder, context)
                    var response = HTTPResponse.eventStream { w in await stream.run(SSESink(writer: w)) }
                    for (k, v) in stream.headers { response.headers.set(k, v) }
                    return response
                }
            }
          } catch {
            let mapped = ServiceError.mapped(error)
            if let render, let e = mapped as? ServiceError { return render(e) }
            throw mapped
          }
        }
    }

    static func restResponse(_ out: AnyAPIResponse, _ d: RouteDescriptor, _ request: HTTPRequest) -> HTTPResponse {
        let status = out.status ?? d.successStatus
        var response: HTTPResponse
        if let body = out.message as? ApiV1.HttpBody {
            let type = body.contentType.isEmpty ? (d.mediaType.isEmpty ? "application/octet-stream" : d.mediaType) : body.contentType
            response = HTTPResponse(status: status, headers: HTTPHeaders([("content-type", type)]), body: body.data)
        } else if let raw = out.rawJSON, !MessageIO.wantsProtobuf(request) {
            response = .json(status, raw)
        } else {
            response = MessageIO.respondErased(status, out.message, to: request)
        }
        for (k, v) in out.headers { response.headers.set(k, v) }
        return response
    }
}

extension MessageIO {
    /// `respond` for a message whose type is erased.
    static func respondErased(_ status: Int, _ message: any ProtoMessage, to request: HTTPRequest) -> HTTPResponse {
        func open<M: ProtoMessage>(_ m: M) -> HTTPResponse { MessageIO.respond(status, m, to: request) }
        return open(message)
    }
}

/// The binding rules of http.proto on one request: the body first (`*` is the
/// whole request, a field name that field), then the query string's leaf
/// fields, then the path variables, which win over both.
struct RESTDecoder: RequestDecoding {
    let request: HTTPRequest
    let route: RouteDescriptor
    let binder: RouteBinder
    let context: RequestContext

    func decode<M: ProtoMessage>(_ type: M.Type) throws -> M {
        var m: M
        switch route.body {
        case .all where M.self == ApiV1.HttpBody.self:
            // google.api.HttpBody as the request: the raw body, as grpc-gateway has it.
            var raw = ApiV1.HttpBody()
            raw.contentType = request.headers["content-type"] ?? ""
            raw.data = request.body
            guard let typed = raw as? M else { throw ServiceError(500, "internal_error", "HttpBody decoding failed") }
            return typed
        case .all: m = try MessageIO.decode(M.self, from: request)
        case .field(let name):
            m = M()
            if !request.body.isEmpty {
                guard MessageIO.isJSON(request) else { throw ServiceError(415, "invalid_request", "a body bound to field \(name) must be application/json") }
                let wrapped = Array("{\(jsonQuote(name)):".utf8) + request.body + Array("}".utf8)
                do { try m.merge(jsonBytes: wrapped, options: MessageIO.restIn) } catch { throw ServiceError.invalidRequest("invalid JSON body: \(error)") }
            }
        case .none: m = M()
        }
        if !request.query.isEmpty && !route.queryFields.isEmpty {
            let json = try FieldJSON.query(request.query, fields: route.queryFields)
            do { try m.merge(jsonBytes: json, options: MessageIO.restIn) } catch { throw ServiceError.invalidRequest("invalid query parameter: \(error)") }
        }
        if !route.pathFields.isEmpty {
            let json = try FieldJSON.path(request.params, fields: route.pathFields)
            do { try m.merge(jsonBytes: json, options: MessageIO.restIn) } catch { throw ServiceError.invalidRequest("invalid path variable: \(error)") }
        }
        try binder.validate(m, route, context)
        return m
    }
}

/// Path variables and query parameters as a JSON object the message's own
/// decoder merges, so field types, enum words and 64-bit rules are the JSON
/// codec's: one set of rules, not a second parser per type.
enum FieldJSON {
    static func value(_ text: String, _ f: FieldBinding, name: String) throws -> String {
        switch f.kind {
        case .bool:
            guard text == "true" || text == "false" else { throw ServiceError.invalidRequest("\(name) must be true or false") }
            return text
        case .enumeration:
            // A number is the value's number; anything else a name or wire word.
            if let n = Int32(text) { return String(n) }
            return jsonQuote(text)
        case .string, .number:
            return jsonQuote(text)
        }
    }

    /// Nested objects for dotted paths; arrays for repeated fields.
    static func object(_ entries: [(FieldBinding, [String])], name: (FieldBinding) -> String) throws -> [UInt8] {
        // Top-level fields only (the common case): written straight, no tree.
        if !entries.contains(where: { $0.0.path.utf8.contains(UInt8(ascii: ".")) }) {
            var members: [String] = []
            for (f, values) in entries {
                let rendered = try values.map { try value($0, f, name: name(f)) }
                members.append(jsonQuote(f.path) + ":" + (f.repeated ? "[" + rendered.joined(separator: ",") + "]" : rendered.last ?? "{}"))
            }
            return Array(("{" + members.joined(separator: ",") + "}").utf8)
        }
        final class Node { var leaf: String?; var children: [(String, Node)] = [] }
        let root = Node()
        for (f, values) in entries {
            var node = root
            for part in f.path.split(separator: ".").map(String.init) {
                if let child = node.children.first(where: { $0.0 == part })?.1 { node = child } else {
                    let child = Node()
                    node.children.append((part, child))
                    node = child
                }
            }
            let rendered = try values.map { try value($0, f, name: name(f)) }
            node.leaf = f.repeated ? "[" + rendered.joined(separator: ",") + "]" : rendered.last
        }
        func render(_ n: Node) -> String {
            if let leaf = n.leaf { return leaf }
            return "{" + n.children.map { jsonQuote($0.0) + ":" + render($0.1) }.joined(separator: ",") + "}"
        }
        return Array(render(root).utf8)
    }

    static func path(_ params: [String: String], fields: [FieldBinding]) throws -> [UInt8] {
        try object(fields.compactMap { f in params[f.path].map { (f, [$0]) } }, name: { "path variable \($0.path)" })
    }

    /// Parameters may use the proto path (`owner_user_id`) or the JSON path; an unknown one is a 400.
    static func query(_ query: String, fields: [FieldBinding]) throws -> [UInt8] {
        var values: [(FieldBinding, [String])] = []
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = PercentEncoding.decodeQuery(kv[0])
            let value = kv.count > 1 ? PercentEncoding.decodeQuery(kv[1]) : ""
            guard let f = fields.first(where: { $0.path == key || $0.jsonPath == key }) else {
                throw ServiceError.invalidRequest("unknown query parameter \(key)")
            }
            if let i = values.firstIndex(where: { $0.0 == f }) {
                if f.repeated { values[i].1.append(value) } else { values[i].1 = [value] }  // the last one wins
            } else {
                values.append((f, [value]))
            }
        }
        return try object(values, name: { "query parameter \($0.path)" })
    }
}

/// SSE frames for a generated stream.
struct SSESink: StreamSink {
    let writer: EventStreamWriter
    func send(framed bytes: [UInt8]) async -> Bool { await writer.send(frames: bytes) }
    func post(framed bytes: [UInt8]) -> Bool { writer.postNow(frames: bytes) }
    func send(data: String) async -> Bool { await writer.send(data: data) }
    func comment(_ text: String) async -> Bool { await writer.comment(text) }
}
