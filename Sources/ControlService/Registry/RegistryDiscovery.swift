import Generated

/// The OpenRPC document `GET /api/rpc/discover` and `rpc.discover` serve:
/// the generated one (every method of registry_rpc.proto, the full
/// runtimeRegistry schema) with what only the runtime table knows written
/// in as enums: the runtime ids on every agent_type param and on the
/// registry's default runtime fields, and the document's status and source
/// words on the capability record. Everything else keeps its bytes.
enum RegistryDiscovery {
    static func document(_ adapters: RuntimeAdapters) -> [UInt8] {
        let base = Array(ControlV1.RegistryRpcService.openRPCDocument.utf8)
        guard var doc = JSONTree.parse(base) else { return base }
        let ids = adapters.supportedAgents
        let field = adapters.registry.routing?.agentTypeField ?? "agent_type"
        func withEnum(_ schema: JSONTree?, _ words: [String]) -> JSONTree {
            var s = schema ?? .object([])
            s["enum"] = JSONTree.strings(words)
            return s
        }
        if case .array(var methods)? = doc["methods"] {
            for i in methods.indices {
                guard case .array(var params)? = methods[i]["params"] else { continue }
                for j in params.indices where params[j]["name"]?.text == field { params[j]["schema"] = withEnum(params[j]["schema"], ids) }
                methods[i]["params"] = .array(params)
            }
            doc["methods"] = .array(methods)
        }
        let patches: [(String, [(String, [String])])] = [
            ("openagents.runtime.v1.RuntimeCapability", [("status", RuntimeAdapters.statuses), ("sessionListSource", RuntimeAdapters.listSources),
                                                        ("sessionMessagesSource", RuntimeAdapters.scopeSources), ("sessionWatchSource", RuntimeAdapters.scopeSources)]),
            ("openagents.runtime.v1.RuntimeRegistry", [("defaultRuntime", ids)]),
            ("openagents.runtime.v1.RuntimeRegistryRouting", [("defaultAgentType", ids), ("agentTypeField", [field])]),
        ]
        if var components = doc["components"], var schemas = components["schemas"] {
            for (name, props) in patches {
                guard var schema = schemas[name], var properties = schema["properties"] else { continue }
                for (prop, words) in props where properties[prop] != nil { properties[prop] = withEnum(properties[prop], words) }
                schema["properties"] = properties
                schemas[name] = schema
            }
            components["schemas"] = schemas
            doc["components"] = components
        }
        return doc.render()
    }
}
