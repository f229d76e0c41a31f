import ProtoWire
import Synchronization

/// One method of a JSON-RPC service as its contract declares it: what the
/// dispatcher, the OpenRPC document, the routing checks and the tests read.
/// Generated (`<Service>.methods`), never written by hand.
public struct JSONRPCMethodDescriptor: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// Has an id and gets an answer.
        case request
        /// Sent by the client without an id; never answered.
        case notification
        /// Sent by the server to the client; never dispatched.
        case serverNotification
    }
    public let service: String
    public let rpc: String
    /// The method name on the wire (`session/start`).
    public let name: String
    public let paramsType: String
    public let resultType: String
    public let kind: Kind
    /// The params' JSON names in field order: positional params bind to them in this order.
    public let params: [String]
    /// Params that must be present and not empty (`(openagents.api.v1.required)`), by proto name.
    public let required: [String]
    public let docs: String

    public init(service: String, rpc: String, name: String, paramsType: String, resultType: String, kind: Kind, params: [String], required: [String] = [], docs: String) {
        self.required = required
        self.service = service
        self.rpc = rpc
        self.name = name
        self.paramsType = paramsType
        self.resultType = resultType
        self.kind = kind
        self.params = params
        self.docs = docs
    }
}

/// The params of one call, decoded on demand into the method's message by
/// the JSON codec (named params are the message's JSON; positional ones are
/// bound to its fields in order). Implemented by the service kit.
public protocol JSONRPCParamsDecoding: Sendable {
    func decode<M: ProtoMessage>(_ type: M.Type) throws -> M
    /// One param's raw JSON, by name (or by its position in `params`), before
    /// any decoding: what routing reads to pick a runtime. Nil when absent.
    func raw(_ name: String) -> [UInt8]?
}

/// The connection a call arrived on, when it can carry server notifications
/// (a WebSocket); HTTP POST has none.
public protocol JSONRPCConnection: AnyObject, Sendable {
    /// A stable id of the connection (initialize's `clientId`).
    var id: String { get }
    /// Queues a server notification; false once the connection is gone or too slow.
    func notify(_ method: JSONRPCMethodDescriptor, _ params: some ProtoMessage) -> Bool
    /// Whether the connection is still open.
    var isOpen: Bool { get }
    /// Runs `body` when the connection ends (at once if it already has).
    func onClose(_ body: @escaping @Sendable () -> Void)
    /// Ends the connection (the close handshake; watches stop).
    func close()
}

/// What a JSON-RPC handler knows beyond its params.
public struct JSONRPCContext: Sendable {
    /// The HTTP request that carried the call (the POST, or the WebSocket's
    /// upgrade): its verified claims, request id and headers.
    public var transport: RequestContext
    public let method: JSONRPCMethodDescriptor
    public let connection: (any JSONRPCConnection)?
    /// What a middleware decided for the call (the control service's runtime selection).
    public var routing: (any Sendable)?
    let hooks: JSONRPCAfterAnswer

    public init(transport: RequestContext, method: JSONRPCMethodDescriptor, connection: (any JSONRPCConnection)?, routing: (any Sendable)? = nil,
                hooks: JSONRPCAfterAnswer = JSONRPCAfterAnswer()) {
        self.transport = transport
        self.method = method
        self.connection = connection
        self.routing = routing
        self.hooks = hooks
    }

    /// Runs `body` once the call's answer has been written (a watch starts
    /// pushing only after its client has read that the watch began).
    public func afterAnswer(_ body: @escaping @Sendable () -> Void) { hooks.add(body) }
}

/// The work a call left for after its answer; the transport runs it.
public final class JSONRPCAfterAnswer: Sendable {
    private let bodies = Mutex<[@Sendable () -> Void]>([])
    public init() {}
    func add(_ body: @escaping @Sendable () -> Void) { bodies.withLock { $0.append(body) } }
    /// Runs (and forgets) what was left.
    public func run() { for b in bodies.withLock({ b -> [@Sendable () -> Void] in defer { b = [] }; return b }) { b() } }
}

/// A method with its handler attached: what a generated
/// `<Service>.bind(handler)` returns and the service kit dispatches to.
public struct BoundJSONRPCMethod: Sendable {
    public let descriptor: JSONRPCMethodDescriptor
    public let invoke: @Sendable (any JSONRPCParamsDecoding, JSONRPCContext) async throws -> any ProtoMessage
    public init(_ descriptor: JSONRPCMethodDescriptor, _ invoke: @escaping @Sendable (any JSONRPCParamsDecoding, JSONRPCContext) async throws -> any ProtoMessage) {
        self.descriptor = descriptor
        self.invoke = invoke
    }
}
