/// One HTTP binding of one rpc, as the generator read it from the contract:
/// the single declaration the router, the OpenAPI writer, the docs, the
/// client and the tests all read. Generated route tables are arrays of these.
public struct RouteDescriptor: Sendable {
    /// `openagents.runtime.v1.RuntimeService`.
    public var service: String
    /// `CreateRun`.
    public var rpc: String
    /// 0 for the rpc's own binding, 1... for `additional_bindings`.
    public var bindingIndex: Int
    public var method: String
    public var template: PathTemplate
    /// Fully qualified proto names.
    public var requestType: String
    public var responseType: String
    public var body: BodyRule
    /// The response field written as the body; empty for the whole response.
    public var responseBody: String
    public var streaming: Streaming
    public var successStatus: Int
    /// Other declared statuses (code, when).
    public var statuses: [(code: Int, description: String)]
    /// An `HttpBody` response's media type.
    public var mediaType: String
    public var auth: Auth
    public var writes: Bool
    public var principal: Principal
    public var tag: String
    /// The rpc's comment.
    public var docs: String
    /// `idempotency_level = NO_SIDE_EFFECTS`: Connect also serves it over GET.
    public var noSideEffects: Bool
    /// Path variables, in template order.
    public var pathFields: [FieldBinding]
    /// Fields the query string may set (none when the body is the whole request).
    public var queryFields: [FieldBinding]
    /// Fields marked `(openagents.api.v1.required)`, by proto name (top level).
    public var requiredFields: [String]
    /// Who is authoritative for the route, on an edge service (`(route).authority`).
    public var authority: RouteAuthority?

    public enum BodyRule: Sendable, Equatable {
        case none
        case all
        case field(String)
    }

    public enum Streaming: Sendable, Equatable {
        case unary
        /// `returns (stream M)`: served as server-sent events.
        case server
        /// `returns (stream M)` with `(route).websocket`: a WebSocket upgrade, one text frame per element.
        case webSocket
    }

    public enum Auth: Int, Sendable {
        case none = 0, runtimeSignature = 1, session = 2, syncToken = 3
    }

    public enum Principal: Int, Sendable {
        case none = 0, optional = 1, required = 2, userRequired = 3
    }

    public init(service: String, rpc: String, bindingIndex: Int = 0, method: String, template: String, requestType: String, responseType: String,
                body: BodyRule, responseBody: String = "", streaming: Streaming = .unary, successStatus: Int = 200,
                statuses: [(code: Int, description: String)] = [], mediaType: String = "", auth: Auth = .none, writes: Bool = false,
                principal: Principal = .none, tag: String = "", docs: String = "", noSideEffects: Bool = false,
                pathFields: [FieldBinding] = [], queryFields: [FieldBinding] = [], requiredFields: [String] = [], authority: RouteAuthority? = nil) {
        self.authority = authority
        self.service = service
        self.rpc = rpc
        self.bindingIndex = bindingIndex
        self.method = method
        // Templates were parsed and checked at generation; a bad one cannot reach here.
        self.template = (try? PathTemplate(template)) ?? PathTemplate.invalid
        self.requestType = requestType
        self.responseType = responseType
        self.body = body
        self.responseBody = responseBody
        self.streaming = streaming
        self.successStatus = successStatus
        self.statuses = statuses
        self.mediaType = mediaType
        self.auth = auth
        self.writes = writes
        self.principal = principal
        self.tag = tag
        self.docs = docs
        self.noSideEffects = noSideEffects
        self.pathFields = pathFields
        self.queryFields = queryFields
        self.requiredFields = requiredFields
    }

    /// `/openagents.runtime.v1.RuntimeService/CreateRun`: the Connect path.
    public var connectPath: String { "/\(service)/\(rpc)" }

    /// Every status the route may answer with, success first.
    public var allStatuses: [Int] { [successStatus] + statuses.map(\.code).filter { $0 != successStatus } }
}

/// A request field bound to a path variable or a query parameter.
public struct FieldBinding: Sendable, Hashable {
    /// Dotted proto field names from the request message (`run_id`, `page.size`).
    public var path: String
    /// The same path by JSON names (`runId`, `page.size`).
    public var jsonPath: String
    public var kind: Kind
    public var repeated: Bool

    public enum Kind: Sendable, Hashable {
        /// JSON string in proto3 JSON: strings, bytes, 64-bit integers, WKT strings.
        case string
        /// JSON number (32-bit integers, floats); written as text, which proto3 JSON also accepts.
        case number
        case bool
        /// An enum: a name or wire word, or its number.
        case enumeration
    }

    public init(path: String, jsonPath: String, kind: Kind, repeated: Bool = false) {
        self.path = path
        self.jsonPath = jsonPath
        self.kind = kind
        self.repeated = repeated
    }
}

extension PathTemplate {
    /// Stand-in for a template that failed to parse (never produced by the generator).
    static let invalid = try! PathTemplate("/invalid-template")
}

/// One row of an edge service's ownership table, as the contract declares it.
public struct RouteAuthority: Sendable, Equatable {
    /// `control_service` or `runtime_service`.
    public var owner: String
    /// `in_process` or `runtime_proxy`.
    public var delivery: String
    public var migrationStatus: String
    public var rationale: String
    public init(owner: String, delivery: String, migrationStatus: String, rationale: String) {
        self.owner = owner
        self.delivery = delivery
        self.migrationStatus = migrationStatus
        self.rationale = rationale
    }
}
