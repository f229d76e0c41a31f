import Foundation
import APIRuntime

/// Breaking changes of the HTTP API itself, beside buf's rule IDs (buf has
/// none): in a stable package (`…v1`, `…v2`) a route that existed must keep
/// its method, template, variables, body, response body, query fields and
/// declared authority (owner and delivery).
/// Bindings are matched by service, rpc and position (0 for the rpc's own
/// binding, then its additional_bindings in order).
enum RouteBreakingRules {
    static let ids = [
        "OPENAGENTS_HTTP_BINDING_NO_DELETE",
        "OPENAGENTS_HTTP_SAME_METHOD",
        "OPENAGENTS_HTTP_SAME_PATH_TEMPLATE",
        "OPENAGENTS_HTTP_PATH_VARIABLE_NO_RENAME",
        "OPENAGENTS_HTTP_SAME_BODY",
        "OPENAGENTS_HTTP_SAME_RESPONSE_BODY",
        "OPENAGENTS_HTTP_QUERY_FIELD_NO_DELETE",
        "OPENAGENTS_HTTP_SAME_AUTHORITY",
        "OPENAGENTS_HTTP_SAME_TRANSPORT",
    ]

    static func isStable(_ package: String) -> Bool {
        guard let last = package.split(separator: ".").last, last.first == "v" else { return false }
        return last.dropFirst().allSatisfy(\.isNumber) && last.count > 1
    }

    struct Binding {
        var method: String
        var template: String
        var variables: [String]
        /// The template with variables blanked, to tell a rename from a move.
        var shape: String
        var body: String
        var responseBody: String
        var queryFields: Set<String>
        /// `owner/delivery` of `(route).authority` ("" when undeclared).
        var authority: String
        /// `unary`, `sse` or `websocket`: what a client must speak to the route.
        var transport: String
        var path: [Int32]
    }

    /// Every binding of every rpc of a module's stable services.
    static func bindings(_ module: Module) -> [String: (Binding, file: Int)] {
        let index = TypeIndex(files: module.set.files, stripping: [])
        var planner = BindingPlanner(index: index)
        var out: [String: (Binding, file: Int)] = [:]
        for (fi, file) in module.files.enumerated() where isStable(file.package) && !file.desc.services.isEmpty {
            for plan in planner.plan(file: file.desc) {
                guard let si = file.desc.services.firstIndex(where: { $0.name == plan.service.name }) else { continue }
                for r in plan.routes where !r.method.isEmpty {
                    guard let t = r.template, let mi = plan.service.methods.firstIndex(where: { $0.name == r.rpc }) else { continue }
                    let body: String
                    switch r.body {
                    case .none: body = ""
                    case .all: body = "*"
                    case .field(let f): body = f
                    }
                    var shape = t.source
                    for v in t.variables { shape = shape.replacingOccurrences(of: "{\(v.fieldPath)", with: "{") }
                    let key = "\(plan.fullName).\(r.rpc)#\(r.bindingIndex)"
                    out[key] = (Binding(method: r.method, template: t.source, variables: t.variables.map(\.fieldPath), shape: shape, body: body,
                                        responseBody: r.responseBody, queryFields: Set(r.queryFields.map(\.path)),
                                        authority: r.options.authority.map { "\($0.owner)/\($0.delivery)" } ?? "",
                                        transport: !r.serverStreaming ? "unary" : (r.options.websocket ? "websocket" : "sse"), path: [6, Int32(si), 2, Int32(mi)]), fi)
                }
            }
        }
        return out
    }

    /// A finding at `path` of the current file when it still has it, else at the top of the file that had it.
    static func finding(_ rule: String, in current: Module, _ fileIndex: Int?, _ path: [Int32]?, fallback: String, _ message: String) -> Finding {
        let file = fileIndex.map { current.files[$0] }
        if let file, let path, let s = file.span(path) {
            return Finding(path: file.path, startLine: s.0, startColumn: s.1, endLine: s.2, endColumn: s.3, type: rule, message: message)
        }
        return Finding(path: file?.path ?? fallback, startLine: 1, startColumn: 1, endLine: 1, endColumn: 1, type: rule, message: message)
    }

    static func check(current: Module, previous: Module, rules: Set<String>) -> [Finding] {
        let before = bindings(previous), after = bindings(current)
        var findings: [Finding] = []
        func add(_ rule: String, _ fileIndex: Int?, _ path: [Int32]?, fallback: String, _ message: String) {
            guard rules.contains(rule) else { return }
            findings.append(finding(rule, in: current, fileIndex, path, fallback: fallback, message))
        }
        for key in before.keys.sorted() {
            let (old, oldFile) = before[key]!
            let name = String(key[..<(key.firstIndex(of: "#") ?? key.endIndex)])
            let fallback = previous.files[oldFile].path
            guard let (new, fi) = after[key] else {
                // The file may still exist: point at its service if it does.
                let fileIndex = current.files.firstIndex { $0.path == fallback }
                add("OPENAGENTS_HTTP_BINDING_NO_DELETE", fileIndex, nil, fallback: fallback,
                    "Previously present HTTP binding \"\(old.method) \(old.template)\" of RPC \"\(name)\" was deleted.")
                continue
            }
            if old.method != new.method {
                add("OPENAGENTS_HTTP_SAME_METHOD", fi, new.path, fallback: fallback, "HTTP binding of RPC \"\(name)\" changed method from \"\(old.method)\" to \"\(new.method)\".")
            }
            if old.template != new.template {
                if old.shape == new.shape && old.variables.count == new.variables.count {
                    for (a, b) in zip(old.variables, new.variables) where a != b {
                        add("OPENAGENTS_HTTP_PATH_VARIABLE_NO_RENAME", fi, new.path, fallback: fallback,
                            "HTTP binding of RPC \"\(name)\" renamed path variable \"\(a)\" to \"\(b)\".")
                    }
                } else {
                    add("OPENAGENTS_HTTP_SAME_PATH_TEMPLATE", fi, new.path, fallback: fallback,
                        "HTTP binding of RPC \"\(name)\" changed path template from \"\(old.template)\" to \"\(new.template)\".")
                }
            }
            if old.body != new.body {
                add("OPENAGENTS_HTTP_SAME_BODY", fi, new.path, fallback: fallback, "HTTP binding of RPC \"\(name)\" changed body from \"\(old.body)\" to \"\(new.body)\".")
            }
            if old.responseBody != new.responseBody {
                add("OPENAGENTS_HTTP_SAME_RESPONSE_BODY", fi, new.path, fallback: fallback,
                    "HTTP binding of RPC \"\(name)\" changed response_body from \"\(old.responseBody)\" to \"\(new.responseBody)\".")
            }
            // Moving a route to another authority moves where its records live: clients of v1 keep the old owner.
            if old.authority != new.authority {
                add("OPENAGENTS_HTTP_SAME_AUTHORITY", fi, new.path, fallback: fallback,
                    "HTTP binding of RPC \"\(name)\" changed its authority from \"\(old.authority)\" to \"\(new.authority)\".")
            }
            // An SSE client cannot read a WebSocket (or the reverse), whatever the messages are.
            if old.transport != new.transport {
                add("OPENAGENTS_HTTP_SAME_TRANSPORT", fi, new.path, fallback: fallback,
                    "HTTP binding of RPC \"\(name)\" changed its transport from \(old.transport) to \(new.transport).")
            }
            for q in old.queryFields.subtracting(new.queryFields).sorted() {
                add("OPENAGENTS_HTTP_QUERY_FIELD_NO_DELETE", fi, new.path, fallback: fallback,
                    "HTTP binding \"\(new.method) \(new.template)\" of RPC \"\(name)\" no longer takes query parameter \"\(q)\".")
            }
        }
        return findings
    }
}
