import Foundation

/// Breaking changes of JSON-RPC surfaces (ours; buf has none), in stable
/// packages: a method clients call must keep its name, its kind (request,
/// notification, server notification) and its params and result types; and
/// because positional params bind to fields in declaration order, the old
/// params must stay a prefix of the new ones (a field may be appended, never
/// inserted, moved or removed). Methods are matched by service and name.
enum JSONRPCBreakingRules {
    static let ids = [
        "OPENAGENTS_JSONRPC_METHOD_NO_DELETE",
        "OPENAGENTS_JSONRPC_SAME_KIND",
        "OPENAGENTS_JSONRPC_SAME_TYPES",
        "OPENAGENTS_JSONRPC_PARAM_POSITIONS_KEPT",
    ]

    struct Method {
        var kind: String
        var types: String
        var params: [String]
        var path: [Int32]
    }

    static func methods(_ module: Module) -> [String: (Method, file: Int)] {
        let index = TypeIndex(files: module.set.files, stripping: [])
        var planner = JSONRPCPlanner(index: index)
        var out: [String: (Method, file: Int)] = [:]
        for (fi, file) in module.files.enumerated() where RouteBreakingRules.isStable(file.package) && !file.desc.services.isEmpty {
            for plan in planner.plan(file: file.desc) {
                for m in plan.methods {
                    out["\(plan.fullName) \(m.name)"] = (Method(kind: m.kind.rawValue, types: "\(m.inputType.dropFirst()) -> \(m.outputType.dropFirst())",
                                                                params: m.params.map { $0.jsonName ?? $0.name }, path: m.path), fi)
                }
            }
        }
        return out
    }

    static func check(current: Module, previous: Module, rules: Set<String>) -> [Finding] {
        let before = methods(previous), after = methods(current)
        var findings: [Finding] = []
        func add(_ rule: String, _ fileIndex: Int?, _ path: [Int32]?, fallback: String, _ message: String) {
            guard rules.contains(rule) else { return }
            findings.append(RouteBreakingRules.finding(rule, in: current, fileIndex, path, fallback: fallback, message))
        }
        for key in before.keys.sorted() {
            guard let (old, oldFile) = before[key] else { continue }
            let fallback = previous.files[oldFile].path
            let parts = key.split(separator: " ", maxSplits: 1).map(String.init)
            let (service, name) = (parts[0], parts.count > 1 ? parts[1] : "")
            guard let (new, fi) = after[key] else {
                add("OPENAGENTS_JSONRPC_METHOD_NO_DELETE", current.files.firstIndex { $0.path == fallback }, nil, fallback: fallback,
                    "Previously present JSON-RPC method \"\(name)\" of \"\(service)\" was deleted.")
                continue
            }
            if old.kind != new.kind {
                add("OPENAGENTS_JSONRPC_SAME_KIND", fi, new.path, fallback: fallback, "JSON-RPC method \"\(name)\" changed from \(old.kind) to \(new.kind).")
            }
            if old.types != new.types {
                add("OPENAGENTS_JSONRPC_SAME_TYPES", fi, new.path, fallback: fallback, "JSON-RPC method \"\(name)\" changed its types from \(old.types) to \(new.types).")
            } else if Array(new.params.prefix(old.params.count)) != old.params {
                add("OPENAGENTS_JSONRPC_PARAM_POSITIONS_KEPT", fi, new.path, fallback: fallback,
                    "JSON-RPC method \"\(name)\" changed its positional params from [\(old.params.joined(separator: ", "))] to [\(new.params.joined(separator: ", "))]; params may only be appended.")
            }
        }
        return findings
    }
}
