import APIRuntime

/// One method of a JSON-RPC service, resolved against its messages.
struct JSONRPCMethodPlan {
    var rpc: String
    var name: String
    var kind: JSONRPCMethodDescriptor.Kind
    var inputType: String
    var outputType: String
    var docs: String
    /// The params message's fields in declaration order.
    var params: [FieldDescriptor]
    var path: [Int32]
}

/// A service with `(service).jsonrpc` set and its methods.
struct JSONRPCServicePlan {
    var file: FileDescriptor
    var service: ServiceDescriptor
    var fullName: String
    var docs: String
    var methods: [JSONRPCMethodPlan]
}

extension ServiceDescriptor {
    /// `(openagents.api.v1.service).jsonrpc`: a JSON-RPC surface, not REST routes.
    var isJSONRPC: Bool { options.message(OptionNumbers.serviceOptions)?.bool(4) == true }
}

/// Reads JSON-RPC services and lints them: each rpc names one method, no
/// name twice, no HTTP bindings, no streams, and `rpc.` names stay reserved
/// (JSON-RPC 2.0 section 4) except the OpenRPC convention `rpc.discover`.
struct JSONRPCPlanner {
    let index: TypeIndex
    private(set) var findings: [BindingFinding] = []

    init(index: TypeIndex) { self.index = index }

    mutating func plan(file: FileDescriptor) -> [JSONRPCServicePlan] {
        let doc = SourceComments(file).doc
        var out: [JSONRPCServicePlan] = []
        for (si, s) in file.services.enumerated() {
            guard s.isJSONRPC else {
                for m in s.methods where m.options.message(OptionNumbers.jsonrpc) != nil {
                    report("JSONRPC_METHOD_OUTSIDE_SERVICE", file, "\(s.name).\(m.name)", "(jsonrpc) is set on an rpc of a service without (service).jsonrpc")
                }
                continue
            }
            var methods: [JSONRPCMethodPlan] = []
            var seen: [String: String] = [:]
            for (mi, m) in s.methods.enumerated() {
                let rpc = "\(s.name).\(m.name)"
                guard let o = m.options.message(OptionNumbers.jsonrpc), let name = o.string(1), !name.isEmpty else {
                    report("JSONRPC_METHOD_MISSING", file, rpc, "an rpc of a JSON-RPC service must name its method with (jsonrpc).name")
                    continue
                }
                if let other = seen[name] { report("JSONRPC_METHOD_DUPLICATE", file, rpc, "method \(name) is already declared by \(other)") }
                seen[name] = m.name
                if m.options.message(OptionNumbers.http) != nil { report("JSONRPC_HTTP_BINDING", file, rpc, "a JSON-RPC method has no HTTP binding of its own") }
                if m.clientStreaming || m.serverStreaming { report("JSONRPC_STREAMING", file, rpc, "JSON-RPC methods are unary; server pushes are server_notification methods") }
                if name.hasPrefix("rpc.") && name != "rpc.discover" { report("JSONRPC_RESERVED_NAME", file, rpc, "method names beginning with rpc. are reserved (only rpc.discover is used)") }
                let notification = o.bool(2) ?? false, pushed = o.bool(3) ?? false
                if notification && pushed { report("JSONRPC_METHOD_KIND", file, rpc, "a method is either a client notification or a server notification") }
                guard let input = index.message(m.inputType) else { continue }
                methods.append(JSONRPCMethodPlan(rpc: m.name, name: name, kind: pushed ? .serverNotification : notification ? .notification : .request,
                                                 inputType: m.inputType, outputType: m.outputType, docs: doc([6, Int32(si), 2, Int32(mi)]),
                                                 params: input.fields, path: [6, Int32(si), 2, Int32(mi)]))
            }
            out.append(JSONRPCServicePlan(file: file, service: s, fullName: (file.package.isEmpty ? "" : file.package + ".") + s.name,
                                          docs: doc([6, Int32(si)]), methods: methods))
        }
        return out
    }

    private mutating func report(_ rule: String, _ file: FileDescriptor, _ rpc: String, _ message: String) {
        findings.append(BindingFinding(rule: rule, file: file.name, rpc: rpc, message: message))
    }
}
