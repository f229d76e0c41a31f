import APIRuntime

/// Emits a service's Swift API: the route table (data), the handler
/// protocol, the binder that mounts a handler on the table, and the typed
/// client. Appended to the Swift file of the .proto that declares the service.
struct ServiceEmitter {
    let plan: ServicePlan
    let index: TypeIndex
    let namespace: String
    let openAPI: String
    var out = CodeWriter()

    /// `GetRun` -> `getRun`.
    static func methodName(_ rpc: String) -> String {
        guard let first = rpc.first else { return rpc }
        var name = first.lowercased() + rpc.dropFirst()
        // Leading acronyms: `HTTPGet` -> `httpGet`.
        let chars = Array(rpc)
        var i = 1
        while i < chars.count - 1 && chars[i].isUppercase && chars[i + 1].isUppercase { i += 1 }
        if i > 1 { name = String(chars[0..<i]).lowercased() + String(chars[i...]) }
        return Naming.escaped(name)
    }

    private func qualified(_ swift: String) -> String { swift }

    mutating func emit() -> String {
        let plan = self.plan
        let index = self.index
        let openAPI = self.openAPI
        let s = plan.service
        let ns = namespace
        let prefix = ns.isEmpty ? "" : ns + "."
        let enumName = Naming.typeName(s.name)
        out.line("// MARK: - \(plan.fullName)")
        out.line()
        wrap(ns) { me in
            me.docs(plan.docs)
            me.out.line("///")
            me.out.line("/// The route table below is the service's single declaration of its HTTP API:")
            me.out.line("/// the router, the OpenAPI document, the client and the tests all read it.")
            me.out.open("public enum \(enumName)")
            me.out.line("public static let name = \(Naming.stringLiteral(plan.fullName))")
            me.out.line()
            me.out.line("/// Every HTTP binding of every rpc, in declaration order.")
            me.out.line("public static let routes: [RouteDescriptor] = [")
            me.out.indent()
            for r in plan.routes { me.emitDescriptor(r) }
            me.out.outdent()
            me.out.line("]")
            me.out.line()
            me.out.line("/// The OpenAPI 3.1 document of this service (also committed as OpenAPI/\(plan.fullName).openapi.json).")
            me.out.line("public static let openAPIDocument = #\"\"\"")
            for l in openAPI.split(separator: "\n", omittingEmptySubsequences: false) { me.out.line(String(l)) }
            me.out.line("\"\"\"#")
            me.out.close()
            me.out.line()
            me.out.line("/// Implemented by the service: one method per rpc. Requests arrive typed (path")
            me.out.line("/// variables, query and body already merged by the binding rules); policies the")
            me.out.line("/// rpc declares (auth, write freeze, principal) ran before the call.")
            me.out.open("public protocol \(enumName)Handler: Sendable")
            var seen: Set<String> = []
            for r in plan.routes where seen.insert(r.rpc).inserted {
                me.docs(r.docs)
                let req = index.swiftName(r.inputType), res = index.swiftName(r.outputType)
                let ret = r.serverStreaming ? "ServerStream<\(res)>" : "APIResponse<\(res)>"
                me.out.line("func \(Self.methodName(r.rpc))(_ request: \(req), context: RequestContext) async throws -> \(ret)")
            }
            me.out.close()
        }
        out.open("extension \(prefix)\(enumName)")
        out.line("/// Mounts `handler` on the route table: one bound route per binding.")
        out.open("public static func bind(_ handler: some \(prefix)\(enumName)Handler) -> [BoundRoute]")
        out.line("[")
        out.indent()
        for (i, r) in plan.routes.enumerated() {
            let req = index.swiftName(r.inputType)
            let m = Self.methodName(r.rpc)
            let kind = r.serverStreaming ? "serverStream" : "unary"
            let wrapper = r.serverStreaming ? "AnyServerStream" : "AnyAPIResponse"
            out.line("BoundRoute(routes[\(i)], .\(kind) { input, context in \(wrapper)(try await handler.\(m)(try input.decode(\(req).self), context: context)) }),")
        }
        out.outdent()
        out.line("]")
        out.close()
        out.close()
        out.line()
        wrap(ns) { me in me.emitClient(enumName: enumName) }
        _ = prefix
        return out.text
    }

    private mutating func wrap(_ ns: String, _ body: (inout ServiceEmitter) -> Void) {
        if ns.isEmpty { body(&self); out.line(); return }
        out.open("extension \(ns)")
        body(&self)
        out.close()
        out.line()
    }

    private mutating func docs(_ text: String) { out.docs(text) }

    private func bindingLiteral(_ b: FieldBinding) -> String {
        let kind: String
        switch b.kind {
        case .string: kind = ".string"
        case .number: kind = ".number"
        case .bool: kind = ".bool"
        case .enumeration: kind = ".enumeration"
        }
        return "FieldBinding(path: \(Naming.stringLiteral(b.path)), jsonPath: \(Naming.stringLiteral(b.jsonPath)), kind: \(kind)\(b.repeated ? ", repeated: true" : ""))"
    }

    private mutating func emitDescriptor(_ r: RoutePlan) {
        let body: String
        switch r.body {
        case .none: body = ".none"
        case .all: body = ".all"
        case .field(let f): body = ".field(\(Naming.stringLiteral(f)))"
        }
        let auth = ["none", "runtimeSignature", "session", "syncToken"][min(max(r.options.auth, 0), 3)]
        let principal = ["none", "optional", "required", "userRequired"][min(max(r.options.principal, 0), 3)]
        out.line("RouteDescriptor(")
        out.indent()
        out.line("service: name, rpc: \(Naming.stringLiteral(r.rpc)), bindingIndex: \(r.bindingIndex),")
        out.line("method: \(Naming.stringLiteral(r.method)), template: \(Naming.stringLiteral(r.template?.source ?? "/\(plan.fullName)/\(r.rpc)")),")
        out.line("requestType: \(Naming.stringLiteral(String(r.inputType.dropFirst()))), responseType: \(Naming.stringLiteral(String(r.outputType.dropFirst()))),")
        out.line("body: \(body), responseBody: \(Naming.stringLiteral(r.responseBody)), streaming: \(r.serverStreaming ? (r.options.websocket ? ".webSocket" : ".server") : ".unary"),")
        let statuses = r.options.statuses.map { "(\($0.code), \(Naming.stringLiteral($0.description)))" }.joined(separator: ", ")
        out.line("successStatus: \(r.options.successStatus), statuses: [\(statuses)],")
        out.line("mediaType: \(Naming.stringLiteral(r.options.mediaType)), auth: .\(auth), writes: \(r.options.writes), principal: .\(principal),")
        out.line("tag: \(Naming.stringLiteral(r.options.tag)), docs: \(Naming.stringLiteral(r.docs)), noSideEffects: \(r.noSideEffects),")
        out.line("pathFields: [\(r.pathFields.map(bindingLiteral).joined(separator: ", "))],")
        out.line("queryFields: [\(r.queryFields.map(bindingLiteral).joined(separator: ", "))],")
        if let a = r.options.authority {
            out.line("requiredFields: [\(r.requiredFields.map(Naming.stringLiteral).joined(separator: ", "))],")
            out.line("authority: RouteAuthority(owner: \(Naming.stringLiteral(a.owner)), delivery: \(Naming.stringLiteral(a.delivery)), migrationStatus: \(Naming.stringLiteral(a.migrationStatus)), rationale: \(Naming.stringLiteral(a.rationale)))")
        } else {
            out.line("requiredFields: [\(r.requiredFields.map(Naming.stringLiteral).joined(separator: ", "))]")
        }
        out.outdent()
        out.line("),")
    }

    private func text(_ a: FieldAccessor, _ v: String) -> String {
        switch a.format {
        case .string: return v
        case .number, .bool: return "String(describing: \(v))"
        case .enumeration: return "(\(v).protoName ?? String(\(v).rawValue))"
        case .bytes: return "Base64.encode(\(v))"
        }
    }

    private func isDefault(_ a: FieldAccessor, _ v: String) -> String {
        switch a.format {
        case .string: return "\(v).isEmpty"
        case .number: return "\(v) == 0"
        case .bool: return "!\(v)"
        case .enumeration: return "\(v).rawValue == 0"
        case .bytes: return "\(v).isEmpty"
        }
    }

    private mutating func emitClient(enumName: String) {
        out.line("/// A typed client of \(plan.fullName) over any `ClientTransport` (our HTTP/1.1")
        out.line("/// client, or a test transport): paths, query and bodies built from the route table.")
        out.open("public struct \(enumName)Client: Sendable")
        out.line("public let core: APIClient")
        out.line("public init(_ core: APIClient) { self.core = core }")
        for (i, r) in plan.routes.enumerated() where !r.serverStreaming && r.bindingIndex == 0 {
            out.line()
            docs(r.docs)
            let req = index.swiftName(r.inputType), res = index.swiftName(r.outputType)
            let m = Self.methodName(r.rpc)
            out.open("public func \(m)(_ request: \(req) = \(req)(), headers: [(String, String)] = []) async throws -> APIResponse<\(res)>")
            if r.method.isEmpty {
                out.line("try await core.connect(\(enumName).routes[\(i)], request, as: \(res).self, headers: headers)")
                out.close()
                continue
            }
            var pathParts: [String] = []
            for (b, a) in zip(r.pathFields, r.pathAccessors) {
                let v = a.optional ? "(\(a.expression) ?? .init())" : a.expression
                pathParts.append("\(Naming.stringLiteral(b.path)): \(text(a, v))")
            }
            out.line("let path: [String: String] = [\(pathParts.isEmpty ? ":" : pathParts.joined(separator: ", "))]")
            if r.queryFields.isEmpty {
                out.line("let query: [(String, String)] = []")
            } else {
                out.line("var query: [(String, String)] = []")
                for (b, a) in zip(r.queryFields, r.queryAccessors) {
                    let name = Naming.stringLiteral(b.path)
                    if a.repeated {
                        out.line("for v in \(a.optional ? "(\(a.expression) ?? [])" : a.expression) { query.append((\(name), \(text(a, "v")))) }")
                    } else if a.optional {
                        out.line("if let v = \(a.expression) { query.append((\(name), \(text(a, "v")))) }")
                    } else {
                        out.line("if !(\(isDefault(a, a.expression))) { query.append((\(name), \(text(a, a.expression)))) }")
                    }
                }
            }
            if !r.options.mediaType.isEmpty && r.outputType == ".openagents.api.v1.HttpBody" {
                out.line("return try await core.raw(\(enumName).routes[\(i)], request, path: path, query: query, headers: headers) { contentType, data in")
                out.indent()
                out.line("var body = \(res)()")
                out.line("body.contentType = contentType")
                out.line("body.data = data")
                out.line("return body")
                out.outdent()
                out.line("}")
            } else {
                out.line("return try await core.unary(\(enumName).routes[\(i)], request, path: path, query: query, as: \(res).self, headers: headers)")
            }
            out.close()
        }
        out.close()
    }
}
