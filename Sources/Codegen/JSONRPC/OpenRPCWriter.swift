import APIRuntime
import Foundation

/// Writes a JSON-RPC service's OpenRPC 1.2.6 document (https://spec.open-rpc.org):
/// one method object per rpc, its params as content descriptors of the params
/// message's fields (by name, or by position in field order), its result the
/// response message. Client notifications have no result; server
/// notifications are listed with `x-openagents-direction` so clients know
/// their params. Schemas are the JSON codec's, shared with the OpenAPI writer.
struct OpenRPCWriter {
    let plan: JSONRPCServicePlan
    let index: TypeIndex
    /// Every file of the descriptor set, for the params' field comments.
    let files: [FileDescriptor]
    private var schemas: JSONSchemas

    init(plan: JSONRPCServicePlan, index: TypeIndex, files: [FileDescriptor]) {
        self.plan = plan
        self.index = index
        self.files = files
        schemas = JSONSchemas(index: index)
    }

    /// The error objects every answered method may return (section 5.1).
    static let standardErrors: [(key: String, code: Int, message: String, description: String)] = [
        ("InvalidRequest", -32600, "Invalid Request", "The message is not a valid request object."),
        ("MethodNotFound", -32601, "Method not found", "No such method (data: the method)."),
        ("InvalidParams", -32602, "Invalid params", "Params do not decode into the method's params, a required one is missing, or they name an unknown or disabled runtime (data: {agent_type, method, supported_agent_types})."),
        ("InternalError", -32603, "Internal error", "The call failed on the server, or the runtime is unavailable (data names it)."),
    ]

    mutating func document() -> String {
        var methods: [OrderedJSON] = []
        for m in plan.methods { methods.append(method(m)) }
        let components = schemas.resolve()
        var info: [(String, OrderedJSON)] = [("title", .string(plan.fullName)), ("version", .string(plan.file.package.split(separator: ".").last.map(String.init) ?? "v1"))]
        if !plan.docs.isEmpty { info.append(("description", .string(plan.docs))) }
        info.append(("x-generated-by", .string("contracts generate from \(plan.file.name); do not edit, run make generate")))
        let errors: [(String, OrderedJSON)] = Self.standardErrors.map { e in
            (e.key, .object([("code", .int(e.code)), ("message", .string(e.message)), ("data", .object([("description", .string(e.description))]))]))
        }
        let doc: OrderedJSON = .object([
            ("openrpc", .string("1.2.6")),
            ("info", .object(info)),
            ("methods", .array(methods)),
            ("components", .object([("schemas", .object(components)), ("errors", .object(errors))])),
        ])
        return doc.render() + "\n"
    }

    private mutating func method(_ m: JSONRPCMethodPlan) -> OrderedJSON {
        var out: [(String, OrderedJSON)] = [("name", .string(m.name))]
        let lines = m.docs.split(separator: "\n").map(String.init)
        if let first = lines.first { out.append(("summary", .string(first))) }
        if lines.count > 1 { out.append(("description", .string(lines.joined(separator: "\n")))) }
        out.append(("paramStructure", .string("either")))
        var params: [OrderedJSON] = []
        for f in m.params {
            var p: [(String, OrderedJSON)] = [("name", .string(f.jsonName ?? f.name))]
            if let doc = fieldDoc(m.inputType, f) { p.append(("summary", .string(doc))) }
            if f.options.bool(OptionNumbers.required) == true { p.append(("required", .bool(true))) }
            p.append(("schema", schemas.fieldSchema(f)))
            params.append(.object(p))
        }
        out.append(("params", .array(params)))
        switch m.kind {
        case .request:
            schemas.ref(m.outputType)
            out.append(("result", .object([("name", .string(String(m.outputType.split(separator: ".").last ?? ""))),
                                           ("schema", JSONSchemas.wellKnown(m.outputType) ?? JSONSchemas.refJSON(m.outputType))])))
            out.append(("errors", .array(Self.standardErrors.map { .object([("$ref", .string("#/components/errors/" + $0.key))]) })))
        case .notification:
            out.append(("x-openagents-direction", .string("client-to-server")))
        case .serverNotification:
            out.append(("x-openagents-direction", .string("server-to-client")))
        }
        return .object(out)
    }

    /// A field's trailing or leading comment, for its param summary.
    private func fieldDoc(_ message: String, _ f: FieldDescriptor) -> String? {
        guard let (fileIndex, path) = location(of: message, field: f) else { return nil }
        let l = files[fileIndex].locations.first { $0.path == path }
        let text = (l?.trailingComments ?? l?.leadingComments ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text.replacingOccurrences(of: "\n", with: " ")
    }

    private func location(of message: String, field f: FieldDescriptor) -> (Int, [Int32])? {
        for (fi, file) in files.enumerated() {
            let prefix = file.package.isEmpty ? "" : "." + file.package
            for (mi, m) in file.messages.enumerated() where prefix + "." + m.name == message {
                guard let i = m.fields.firstIndex(where: { $0.number == f.number }) else { return nil }
                return (fi, [4, Int32(mi), 2, Int32(i)])
            }
        }
        return nil
    }
}
