import APIRuntime
import Foundation
import Generated
import HTTPServer
import ProtoWire
import ServiceKit

/// The runtime a routed call goes to, and the warning its result carries.
struct RuntimeSelection: Sendable {
    var runtime: RuntimeV1.RuntimeCapability
    /// Set when the runtime is deprecated: the call works and says so.
    var warning: String?
    /// Whether the client named it (false: routing.defaultAgentType was used).
    var explicit: Bool
}

/// A result that can carry routing's warning (the answers of the methods in
/// routing.requiredOnMethods).
protocol RoutedResult: ProtoMessage {
    var warning: String? { get set }
}
extension ControlV1.SessionStartResult: RoutedResult {}
extension ControlV1.SessionFrameResult: RoutedResult {}
extension ControlV1.SessionStopResult: RoutedResult {}

/// Routing by `agent_type` (runtime-capability-registry.md, error handling
/// contract), before any session handler runs. On the methods in
/// routing.requiredOnMethods an omitted selector is routing.defaultAgentType;
/// on the other session methods it may be omitted (the session's own runtime
/// is used) but is checked when given. An unknown runtime is -32602 with
/// `{agent_type, method, supported_agent_types}`; a disabled one is never
/// invokable; a deprecated one works and its result carries a warning.
struct RegistryRouting: JSONRPCMiddleware {
    let adapters: RuntimeAdapters

    var field: String { adapters.registry.routing?.agentTypeField ?? "agent_type" }

    func applies(to method: JSONRPCMethodDescriptor) -> Bool { method.params.contains(field) }

    func handle(_ params: any JSONRPCParamsDecoding, context: JSONRPCContext,
                next: (JSONRPCContext) async throws -> any ProtoMessage) async throws -> any ProtoMessage {
        let method = context.method.name
        let raw = params.raw(field)
        if let raw, raw != Array("null".utf8), JSONRPC.text(raw) == nil {
            throw JSONRPC.ErrorObject.invalidParams("\(field) must be a string")
        }
        let given = (JSONRPC.text(raw) ?? "").whitespaceTrimmed.lowercased()
        let required = adapters.registry.routing?.requiredOnMethods.contains(method) ?? false
        guard !given.isEmpty || required else { return try await next(context) }
        let id = given.isEmpty ? (adapters.registry.routing?.defaultAgentType ?? adapters.registry.defaultRuntime) : given
        let selection = try Self.select(id, method: method, explicit: !given.isEmpty, adapters: adapters)
        var c = context
        c.routing = selection
        let result = try await next(c)
        guard let warning = selection.warning, var routed = result as? any RoutedResult else { return result }
        routed.warning = warning
        return routed
    }

    /// The routing rules for one runtime id, shared with session methods that route by the session's own runtime.
    static func select(_ id: String, method: String, explicit: Bool, adapters: RuntimeAdapters) throws -> RuntimeSelection {
        guard let runtime = adapters.runtime(id) else {
            throw JSONRPC.ErrorObject.invalidParams("unknown agent_type \(id)", data: errorData(id, method, adapters, extra: [:]))
        }
        switch runtime.status {
        case "disabled":
            throw JSONRPC.ErrorObject(-32602, "Invalid params", data: errorData(id, method, adapters, extra: [
                "status": "disabled", "reason": "runtime \(id) is disabled by server policy and cannot be invoked",
            ]))
        case "deprecated":
            return RuntimeSelection(runtime: runtime, warning: "runtime \(id) is deprecated; move to \(adapters.registry.defaultRuntime)", explicit: explicit)
        default:
            return RuntimeSelection(runtime: runtime, warning: nil, explicit: explicit)
        }
    }

    /// `{agent_type, method, supported_agent_types, ...}`: supported are the invokable runtimes.
    static func errorData(_ id: String, _ method: String, _ adapters: RuntimeAdapters, extra: [String: String]) -> [UInt8] {
        let supported = adapters.registry.runtimes.filter { $0.status != "disabled" }.map(\.id)
        var parts = ["\"agent_type\":\(jsonQuote(id))", "\"method\":\(jsonQuote(method))",
                     "\"supported_agent_types\":[\(supported.map(jsonQuote).joined(separator: ","))]"]
        for (k, v) in extra.sorted(by: { $0.key < $1.key }) { parts.append("\(jsonQuote(k)):\(jsonQuote(v))") }
        return Array(("{" + parts.joined(separator: ",") + "}").utf8)
    }
}
