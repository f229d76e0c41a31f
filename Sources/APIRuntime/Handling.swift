import ProtoWire

/// What a handler knows about the request beyond its typed message: headers,
/// identity, trace and deadline. Middleware fills it before the handler runs.
public struct RequestContext: Sendable {
    /// Header fields in arrival order; `header(_:)` compares names case-insensitively.
    public var headers: [(name: String, value: String)]
    public var requestID: String
    /// `traceparent` of this request's span.
    public var traceparent: String
    public var principal: RequestPrincipal
    /// Claims a verified credential carried (signature claims, a session).
    public var claims: (any Sendable)?
    /// Monotonic nanoseconds after which the caller no longer waits (Connect-Timeout-Ms).
    public var deadline: UInt64?
    public let route: RouteDescriptor

    public init(headers: [(name: String, value: String)], requestID: String, traceparent: String, principal: RequestPrincipal = RequestPrincipal(),
                claims: (any Sendable)? = nil, deadline: UInt64? = nil, route: RouteDescriptor) {
        self.headers = headers
        self.requestID = requestID
        self.traceparent = traceparent
        self.principal = principal
        self.claims = claims
        self.deadline = deadline
        self.route = route
    }

    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }
}

/// The caller's principal headers (x-oa-user-id, x-oa-guest-scope), trimmed; empty when absent.
public struct RequestPrincipal: Sendable, Hashable {
    public var userID: String
    public var guestScope: String
    public init(userID: String = "", guestScope: String = "") {
        self.userID = userID
        self.guestScope = guestScope
    }
    public var isEmpty: Bool { userID.isEmpty && guestScope.isEmpty }
}

/// A handler's answer: the message and the status, one of the route's declared ones.
public struct APIResponse<Message: ProtoMessage>: Sendable {
    public var status: Int?
    public var message: Message
    public var headers: [(String, String)]
    /// Bytes the REST binding writes instead of the message's JSON (a receipt's
    /// canonical JSON); protobuf and Connect clients still get the message.
    public var rawJSON: [UInt8]?

    public init(_ message: Message, status: Int? = nil, headers: [(String, String)] = [], rawJSON: [UInt8]? = nil) {
        self.message = message
        self.status = status
        self.headers = headers
        self.rawJSON = rawJSON
    }
}

/// Where a server-streaming handler writes. The SSE binding frames each
/// event; `sendFramed` takes bytes a hub framed once for many readers.
public protocol StreamSink: Sendable {
    /// False once the client is gone or too slow: stop then.
    func send(framed bytes: [UInt8]) async -> Bool
    /// Like `send(framed:)`, without waiting for the connection to take the bytes.
    func post(framed bytes: [UInt8]) -> Bool
    /// One `data:` event (`[DONE]`).
    func send(data: String) async -> Bool
    /// A comment line, as keep-alive.
    func comment(_ text: String) async -> Bool
    /// Whether the reader is still there (a closed socket says so at once; SSE only on a failed write).
    var isOpen: Bool { get }
    /// A keep-alive from synchronous code (an SSE comment, a WebSocket ping); false once the reader is gone.
    func postKeepAlive() -> Bool
}

extension StreamSink {
    public var isOpen: Bool { true }
    public func postKeepAlive() -> Bool { post(framed: Array(": keep-alive\n\n".utf8)) }
}

/// A server-streaming handler's answer: the body that writes the stream.
public struct ServerStream<Element: ProtoMessage>: Sendable {
    public var headers: [(String, String)]
    public let run: @Sendable (any StreamSink) async -> Void
    public init(headers: [(String, String)] = [], _ run: @escaping @Sendable (any StreamSink) async -> Void) {
        self.headers = headers
        self.run = run
    }
}

/// Turns the HTTP request into the rpc's typed request by the binding rules
/// (path variables, then the body, then the query). Implemented by the service kit.
public protocol RequestDecoding {
    func decode<M: ProtoMessage>(_ type: M.Type) throws -> M
}

/// A response with its message type erased, for the binder.
public struct AnyAPIResponse: Sendable {
    public var status: Int?
    public var message: any ProtoMessage
    public var headers: [(String, String)]
    public var rawJSON: [UInt8]?
    public init<M: ProtoMessage>(_ r: APIResponse<M>) {
        status = r.status
        message = r.message
        headers = r.headers
        rawJSON = r.rawJSON
    }
}

/// A stream with its element type erased.
public struct AnyServerStream: Sendable {
    public var headers: [(String, String)]
    public let run: @Sendable (any StreamSink) async -> Void
    public init<M: ProtoMessage>(_ s: ServerStream<M>) {
        headers = s.headers
        run = s.run
    }
}

/// A route of the table with its handler attached: what a generated
/// `<Service>.bind(handler)` returns and the service kit mounts.
public struct BoundRoute: Sendable {
    public enum Invoke: Sendable {
        case unary(@Sendable (any RequestDecoding, RequestContext) async throws -> AnyAPIResponse)
        case serverStream(@Sendable (any RequestDecoding, RequestContext) async throws -> AnyServerStream)
    }
    public let descriptor: RouteDescriptor
    public let invoke: Invoke
    public init(_ descriptor: RouteDescriptor, _ invoke: Invoke) {
        self.descriptor = descriptor
        self.invoke = invoke
    }
}
