import Foundation
import Generated
import ProtoWire
import RuntimeCore

/// The OpenRPC document `GET /api/rpc/discover` and `rpc.discover` serve:
/// the generated one (every method of registry_rpc.proto, the full
/// runtimeRegistry schema) with what only the runtime table knows written
/// in as enums: the runtime ids on every agent_type param and on the
/// registry's default runtime fields, and the document's status and source
/// words on the capability record.
enum RegistryDiscovery {
    static func document(_ adapters: RuntimeAdapters) -> [UInt8] {
        let base = Array(ControlV1.RegistryRpcService.openRPCDocument.utf8)
        guard var doc = try? GoogleProtobuf.Struct(jsonBytes: base) else { return base }
        let ids = adapters.supportedAgents
        let field = adapters.registry.routing?.agentTypeField ?? "agent_type"
        func list(_ words: [String]) -> GoogleProtobuf.Value { JSONValue.array(words.map(JSONValue.string)) }
        func withEnum(_ schema: GoogleProtobuf.Value?, _ words: [String]) -> GoogleProtobuf.Value {
            var s = JSONValue.fields(schema) ?? [:]
            s["enum"] = list(words)
            return JSONValue.object(s)
        }
        if case .listValue(var methods)? = doc.fields["methods"]?.kind {
            for i in methods.values.indices {
                guard var m = JSONValue.fields(methods.values[i]), case .listValue(var params)? = m["params"]?.kind else { continue }
                for j in params.values.indices {
                    guard var p = JSONValue.fields(params.values[j]), JSONValue.stringField(params.values[j], "name") == field else { continue }
                    p["schema"] = withEnum(p["schema"], ids)
                    params.values[j] = JSONValue.object(p)
                }
                m["params"] = JSONValue.value(.listValue(params))
                methods.values[i] = JSONValue.object(m)
            }
            doc.fields["methods"] = JSONValue.value(.listValue(methods))
        }
        let patches: [(String, [(String, [String])])] = [
            ("openagents.runtime.v1.RuntimeCapability", [("status", RuntimeAdapters.statuses), ("sessionListSource", RuntimeAdapters.listSources),
                                                        ("sessionMessagesSource", RuntimeAdapters.scopeSources), ("sessionWatchSource", RuntimeAdapters.scopeSources)]),
            ("openagents.runtime.v1.RuntimeRegistry", [("defaultRuntime", ids)]),
            ("openagents.runtime.v1.RuntimeRegistryRouting", [("defaultAgentType", ids), ("agentTypeField", [field])]),
        ]
        if var components = JSONValue.fields(doc.fields["components"]), var schemas = JSONValue.fields(components["schemas"]) {
            for (name, props) in patches {
                guard var schema = JSONValue.fields(schemas[name]), var properties = JSONValue.fields(schema["properties"]) else { continue }
                for (prop, words) in props where properties[prop] != nil { properties[prop] = withEnum(properties[prop], words) }
                schema["properties"] = JSONValue.object(properties)
                schemas[name] = JSONValue.object(schema)
            }
            components["schemas"] = JSONValue.object(schemas)
            doc.fields["components"] = JSONValue.object(components)
        }
        return (try? doc.jsonBytes()) ?? base
    }
}
