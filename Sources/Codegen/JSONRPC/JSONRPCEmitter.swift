import APIRuntime

/// Emits a JSON-RPC service's Swift API: the method table (data), the
/// handler protocol (one method per client-sent rpc), the binder that
/// attaches a handler to the table, descriptors of the server notifications,
/// and the OpenRPC document. Appended to the Swift file of its .proto.
struct JSONRPCEmitter {
    let plan: JSONRPCServicePlan
    let index: TypeIndex
    let namespace: String
    let openRPC: String
    var out = CodeWriter()

    mutating func emit() -> String {
        let plan = self.plan, index = self.index
        let enumName = Naming.typeName(plan.service.name)
        let prefix = namespace.isEmpty ? "" : namespace + "."
        out.line("// MARK: - \(plan.fullName) (JSON-RPC 2.0)")
        out.line()
        wrap { me in
            me.docs(plan.docs)
            me.out.line("///")
            me.out.line("/// The method table below is the service's single declaration of its JSON-RPC")
            me.out.line("/// surface: the dispatcher, the OpenRPC document, routing and the tests read it.")
            me.out.open("public enum \(enumName)")
            me.out.line("public static let name = \(Naming.stringLiteral(plan.fullName))")
            me.out.line()
            me.out.line("/// Every method, in declaration order.")
            me.out.line("public static let methods: [JSONRPCMethodDescriptor] = [")
            me.out.indent()
            for m in plan.methods {
                let params = m.params.map { Naming.stringLiteral($0.jsonName ?? $0.name) }.joined(separator: ", ")
                me.out.line("JSONRPCMethodDescriptor(service: name, rpc: \(Naming.stringLiteral(m.rpc)), name: \(Naming.stringLiteral(m.name)),")
                me.out.line("                        paramsType: \(Naming.stringLiteral(String(m.inputType.dropFirst()))), resultType: \(Naming.stringLiteral(String(m.outputType.dropFirst()))),")
                let required = m.params.filter { $0.options.bool(OptionNumbers.required) == true }.map { Naming.stringLiteral($0.name) }
                let requiredText = required.isEmpty ? "" : ", required: [\(required.joined(separator: ", "))]"
                me.out.line("                        kind: .\(m.kind.rawValue), params: [\(params)]\(requiredText), docs: \(Naming.stringLiteral(m.docs))),")
            }
            me.out.outdent()
            me.out.line("]")
            for (i, m) in plan.methods.enumerated() where m.kind == .serverNotification {
                me.out.line()
                me.out.line("/// `\(m.name)`, sent by the server with \(index.swiftName(m.inputType)) params.")
                me.out.line("public static var \(ServiceEmitter.methodName(m.rpc).trimmingCharacters(in: ["`"]))Notification: JSONRPCMethodDescriptor { methods[\(i)] }")
            }
            me.out.line()
            me.out.line("/// The OpenRPC 1.2.6 document of this service (also committed as OpenRPC/\(plan.fullName).openrpc.json).")
            me.out.line("public static let openRPCDocument = #\"\"\"")
            for l in me.openRPC.split(separator: "\n", omittingEmptySubsequences: false) { me.out.line(String(l)) }
            me.out.line("\"\"\"#")
            me.out.close()
            me.out.line()
            me.out.line("/// Implemented by the service: one method per method the client sends. Params")
            me.out.line("/// arrive typed; notifications' results are never sent.")
            me.out.open("public protocol \(enumName)Handler: Sendable")
            for m in plan.methods where m.kind != .serverNotification {
                me.docs(m.docs)
                me.out.line("func \(ServiceEmitter.methodName(m.rpc))(_ params: \(index.swiftName(m.inputType)), context: JSONRPCContext) async throws -> \(index.swiftName(m.outputType))")
            }
            me.out.close()
        }
        out.open("extension \(prefix)\(enumName)")
        out.line("/// Attaches `handler` to the method table (server notifications are not dispatched).")
        out.open("public static func bind(_ handler: some \(prefix)\(enumName)Handler) -> [BoundJSONRPCMethod]")
        out.line("[")
        out.indent()
        for (i, m) in plan.methods.enumerated() where m.kind != .serverNotification {
            out.line("BoundJSONRPCMethod(methods[\(i)]) { params, context in try await handler.\(ServiceEmitter.methodName(m.rpc))(try params.decode(\(index.swiftName(m.inputType)).self), context: context) },")
        }
        out.outdent()
        out.line("]")
        out.close()
        out.close()
        out.line()
        return out.text
    }

    private mutating func wrap(_ body: (inout JSONRPCEmitter) -> Void) {
        if namespace.isEmpty { body(&self); out.line(); return }
        out.open("extension \(namespace)")
        body(&self)
        out.close()
        out.line()
    }

    private mutating func docs(_ text: String) { out.docs(text) }
}
