import APIRuntime
import Foundation
import Generated
import ProtoWire

/// The runtime adapters the capability registry offers, declared once: the
/// built-in table below, or a file in the registry document's JSON shape
/// named by `OA_RUNTIME_REGISTRY` / `--runtime-registry`. The registry
/// document, `supportedAgents`, routing by `agent_type` and the OpenRPC enum
/// all read what `load` returns. A bad table stops start-up naming the entry.
public struct RuntimeAdapters: Sendable {
    public let registry: RuntimeV1.RuntimeRegistry

    /// The document's enums, in its order (the OpenRPC schema lists them too).
    public static let statuses = ["active", "preview", "deprecated", "disabled"]
    public static let listSources = ["workspaceHistory", "runtimeScoped"]
    public static let scopeSources = ["workspaceScoped", "runtimeScoped"]
    public static let requiredOnMethods = ["session/start", "session/send", "session/stop", "session/input", "session/respond"]

    static func methods(state: Bool = true) -> RuntimeV1.RuntimeMethods {
        var m = RuntimeV1.RuntimeMethods()
        m.history = "workspace/session/history"
        m.messages = "workspace/session/messages"
        m.watch = "workspace/session/watch"
        m.unwatch = "workspace/session/unwatch"
        m.start = "session/start"
        m.send = "session/send"
        m.stop = "session/stop"
        m.input = "session/input"
        m.respond = "session/respond"
        if state { m.state = "session/state" }
        return m
    }

    static func adapter(_ id: String, _ name: String, status: String, activationOnResume: Bool, resolutionOnNewSession: Bool) -> RuntimeV1.RuntimeCapability {
        var a = RuntimeV1.RuntimeCapability()
        a.id = id
        a.displayName = name
        a.status = status
        a.sessionListSource = "workspaceHistory"
        a.sessionMessagesSource = "workspaceScoped"
        a.sessionWatchSource = "workspaceScoped"
        a.requiresWorkspaceActivationOnResume = activationOnResume
        a.requiresSessionResolutionOnNewSession = resolutionOnNewSession
        a.supportsResume = true
        a.supportsInteractiveQuestions = true
        a.supportsPermissions = true
        a.methods = methods()
        return a
    }

    /// claude and codex active, gemini in preview (the document's two entries, plus the third it names).
    public static var builtIn: RuntimeV1.RuntimeRegistry {
        var r = RuntimeV1.RuntimeRegistry()
        r.schemaVersion = "1.0"
        r.defaultRuntime = "claude"
        var routing = RuntimeV1.RuntimeRegistryRouting()
        routing.agentTypeField = "agent_type"
        routing.defaultAgentType = "claude"
        routing.requiredOnMethods = requiredOnMethods
        r.routing = routing
        r.runtimes = [
            adapter("claude", "Claude", status: "active", activationOnResume: true, resolutionOnNewSession: true),
            adapter("codex", "Codex", status: "active", activationOnResume: false, resolutionOnNewSession: false),
            adapter("gemini", "Gemini", status: "preview", activationOnResume: false, resolutionOnNewSession: false),
        ]
        return r
    }

    /// The built-in table, or the file's; validated and normalized.
    public static func load(file: String?) throws(APIError) -> RuntimeAdapters {
        guard let file, !file.isEmpty else { return try RuntimeAdapters(validating: builtIn, source: "built-in registry") }
        guard let data = FileManager.default.contents(atPath: file) else { throw .invalidRequest("runtime registry \(file): cannot be read") }
        let r: RuntimeV1.RuntimeRegistry
        do { r = try RuntimeV1.RuntimeRegistry(jsonBytes: [UInt8](data)) } catch {
            throw .invalidRequest("runtime registry \(file): not a registry document: \(error)")
        }
        return try RuntimeAdapters(validating: r, source: "runtime registry \(file)")
    }

    /// Ids are trimmed and lowercased; after that every rule must hold.
    public init(validating input: RuntimeV1.RuntimeRegistry, source: String) throws(APIError) {
        func fail(_ what: String) -> APIError { .invalidRequest("\(source): \(what)") }
        var r = input
        if r.schemaVersion.isEmpty { r.schemaVersion = "1.0" }
        guard !r.runtimes.isEmpty else { throw fail("runtimes is empty") }
        var seen: [String: Int] = [:]
        for i in r.runtimes.indices {
            let id = r.runtimes[i].id.whitespaceTrimmed.lowercased()
            let entry = "runtimes[\(i)]"
            guard !id.isEmpty else { throw fail("\(entry) has an empty id") }
            if let first = seen[id] { throw fail("\(entry) repeats the id \"\(id)\" of runtimes[\(first)]") }
            seen[id] = i
            r.runtimes[i].id = id
            let a = r.runtimes[i]
            guard !a.displayName.whitespaceTrimmed.isEmpty else { throw fail("\(entry) (\(id)) has no displayName") }
            guard Self.statuses.contains(a.status) else { throw fail("\(entry) (\(id)) has status \"\(a.status)\" (one of \(Self.statuses.joined(separator: ", ")))") }
            guard Self.listSources.contains(a.sessionListSource) else { throw fail("\(entry) (\(id)) has sessionListSource \"\(a.sessionListSource)\"") }
            guard Self.scopeSources.contains(a.sessionMessagesSource) else { throw fail("\(entry) (\(id)) has sessionMessagesSource \"\(a.sessionMessagesSource)\"") }
            guard Self.scopeSources.contains(a.sessionWatchSource) else { throw fail("\(entry) (\(id)) has sessionWatchSource \"\(a.sessionWatchSource)\"") }
            guard let m = a.methods else { throw fail("\(entry) (\(id)) has no methods") }
            let required: [(String, String)] = [("history", m.history), ("messages", m.messages), ("watch", m.watch), ("unwatch", m.unwatch), ("start", m.start),
                                                ("send", m.send), ("stop", m.stop), ("input", m.input), ("respond", m.respond)]
            for (key, value) in required where value.whitespaceTrimmed.isEmpty {
                throw fail("\(entry) (\(id)) is missing the required method key \"\(key)\"")
            }
            // A method the registry names must be one the server answers (registry_rpc.proto).
            for (key, value) in required + (m.state.map { [("state", $0)] } ?? []) where !Self.served.contains(value) {
                throw fail("\(entry) (\(id)) maps \"\(key)\" to \"\(value)\", which is not a method of this server")
            }
        }
        r.defaultRuntime = r.defaultRuntime.whitespaceTrimmed.lowercased()
        guard seen[r.defaultRuntime] != nil else { throw fail("defaultRuntime \"\(r.defaultRuntime)\" is not a listed runtime") }
        var routing = r.routing ?? RuntimeV1.RuntimeRegistryRouting()
        if routing.agentTypeField.isEmpty { routing.agentTypeField = "agent_type" }
        routing.defaultAgentType = routing.defaultAgentType.whitespaceTrimmed.lowercased()
        if routing.defaultAgentType.isEmpty { routing.defaultAgentType = r.defaultRuntime }
        guard seen[routing.defaultAgentType] != nil else { throw fail("routing.defaultAgentType \"\(routing.defaultAgentType)\" is not a listed runtime") }
        if routing.requiredOnMethods.isEmpty { routing.requiredOnMethods = Self.requiredOnMethods }
        for method in routing.requiredOnMethods {
            guard let d = ControlV1.RegistryRpcService.methods.first(where: { $0.name == method && $0.kind == .request }) else {
                throw fail("routing.requiredOnMethods names \"\(method)\", which is not a method of this server")
            }
            guard d.params.contains(routing.agentTypeField) else {
                throw fail("routing.requiredOnMethods names \"\(method)\", whose params have no \"\(routing.agentTypeField)\" (routing.agentTypeField)")
            }
        }
        r.routing = routing
        if seen[r.defaultRuntime].map({ r.runtimes[$0].status == "disabled" }) == true { throw fail("defaultRuntime \"\(r.defaultRuntime)\" is disabled") }
        registry = r
    }

    /// The methods clients may call, from the contract.
    static let served = Set(ControlV1.RegistryRpcService.methods.filter { $0.kind == .request }.map(\.name))

    /// `supportedAgents`: the registry's runtime ids, in table order.
    public var supportedAgents: [String] { registry.runtimes.map(\.id) }

    public func runtime(_ id: String) -> RuntimeV1.RuntimeCapability? {
        let key = id.whitespaceTrimmed.lowercased()
        return registry.runtimes.first { $0.id == key }
    }

    /// The document's JSON: every field is required by the document, so false and empty values are written too.
    public func documentJSON(at date: Date = Date()) -> [UInt8] {
        (try? document(at: date).jsonBytes(options: JSONEncodingOptions(emitDefaultValues: true))) ?? Array("{}".utf8)
    }

    /// The document as `initialize` serves it, stamped with the time it is generated.
    public func document(at date: Date = Date()) -> RuntimeV1.RuntimeRegistry {
        var r = registry
        var t = GoogleProtobuf.Timestamp()
        t.seconds = Int64(date.timeIntervalSince1970)
        r.generatedAt = t
        return r
    }
}
