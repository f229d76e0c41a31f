import APIRuntime

/// Writes a service's OpenAPI 3.1 document from its route plans and the
/// messages they use. Schemas describe the REST JSON the service writes and
/// accepts: JSON names, 64-bit integers as numbers (strings accepted), enum
/// values by wire word or name, well-known types in their JSON forms.
struct OpenAPIWriter {
    let plan: ServicePlan
    let index: TypeIndex
    private var schemas: JSONSchemas

    init(plan: ServicePlan, index: TypeIndex) {
        self.plan = plan
        self.index = index
        schemas = JSONSchemas(index: index)
    }

    var errorType: String? {
        let o = plan.service.options.message(OptionNumbers.serviceOptions)
        guard let t = o?.string(1), !t.isEmpty else { return nil }
        return "." + t
    }

    /// `(service).malformed_status`, 400 when unset.
    var malformedStatus: Int {
        let o = plan.service.options.message(OptionNumbers.serviceOptions)
        guard let v = o?.varint(3), v != 0 else { return 400 }
        return Int(v)
    }

    static let reasons: [Int: String] = [
        200: "OK", 201: "Created", 202: "Accepted", 400: "The request is malformed: bad JSON, an unknown field, a missing required field or a bad path or query value.",
        401: "The credential is missing, malformed, expired or replayed.", 403: "Forbidden.", 404: "Not found.", 409: "Conflict.", 410: "Gone.",
        413: "The body is larger than the server's limit.", 415: "The content type is neither JSON nor protobuf.", 422: "Unprocessable.",
        429: "Too many requests.", 503: "Writes are frozen (write_path_frozen) or the service is unavailable.",
    ]

    mutating func document() -> String {
        var paths: [(String, [(String, OrderedJSON)])] = []
        var tags: [String] = []
        for r in plan.routes where !r.method.isEmpty {
            guard let t = r.template else { continue }
            let path = openAPIPath(t)
            let op = operation(r)
            if !r.options.tag.isEmpty && !tags.contains(r.options.tag) { tags.append(r.options.tag) }
            if let i = paths.firstIndex(where: { $0.0 == path }) { paths[i].1.append((r.method.lowercased(), op)) } else { paths.append((path, [(r.method.lowercased(), op)])) }
        }
        if let e = errorType { ref(e) }
        let components = schemas.resolve()
        var security: [(String, OrderedJSON)] = []
        let auths = Set(plan.routes.map(\.options.auth))
        if auths.contains(1) { security.append(("runtimeSignature", .object([("type", .string("apiKey")), ("in", .string("header")), ("name", .string("X-OA-RUNTIME-SIGNATURE")), ("description", .string("v1.<claims>.<mac>: HMAC-SHA256 over the claims with the runtime's shared secret; single-use nonce."))]))) }
        if auths.contains(2) { security.append(("session", .object([("type", .string("http")), ("scheme", .string("bearer")), ("bearerFormat", .string("JWT")), ("description", .string("A control session token (HS256)."))]))) }
        if auths.contains(3) { security.append(("syncToken", .object([("type", .string("http")), ("scheme", .string("bearer")), ("bearerFormat", .string("JWT")), ("description", .string("A Khala sync token (HS256)."))]))) }
        var info: [(String, OrderedJSON)] = [("title", .string(plan.fullName)), ("version", .string(versionOf(plan.file.package)))]
        if !plan.docs.isEmpty { info.append(("description", .string(plan.docs))) }
        info.append(("x-generated-by", .string("contracts generate from \(plan.file.name); do not edit, run make generate")))
        var doc: [(String, OrderedJSON)] = [("openapi", .string("3.1.0")), ("info", .object(info))]
        if let address = plan.service.options.message(OptionNumbers.serviceOptions)?.string(2), !address.isEmpty {
            doc.append(("servers", .array([.object([("url", .string(address))])])))
        }
        doc.append(("tags", .array(tags.map { .object([("name", .string($0))]) })))
        doc.append(("paths", .object(paths.map { ($0.0, .object($0.1)) })))
        var componentList: [(String, OrderedJSON)] = [("schemas", .object(components))]
        if !security.isEmpty { componentList.append(("securitySchemes", .object(security))) }
        doc.append(("components", .object(componentList)))
        return OrderedJSON.object(doc).render() + "\n"
    }

    private func versionOf(_ package: String) -> String {
        package.split(separator: ".").last.map(String.init) ?? "v1"
    }

    /// `{field=**}` and `{field=a/*}` become `{field}`; OpenAPI has no patterns in paths.
    private func openAPIPath(_ t: PathTemplate) -> String {
        var out = ""
        var i = 0
        while i < t.segments.count {
            if let v = t.variables.first(where: { $0.start == i }) {
                out += "/{\(v.fieldPath)}"
                i = v.count == Int.max ? t.segments.count : i + v.count
                continue
            }
            switch t.segments[i] {
            case .literal(let l): out += "/" + l
            case .wildcard, .rest: out += "/{wildcard\(i)}"
            }
            i += 1
        }
        if out.isEmpty { out = "/" }
        if let verb = t.verb { out += ":" + verb }
        return out
    }

    private mutating func ref(_ type: String) { schemas.ref(type) }
    private func refJSON(_ type: String) -> OrderedJSON { JSONSchemas.refJSON(type) }
    private mutating func fieldSchema(_ f: FieldDescriptor) -> OrderedJSON { schemas.fieldSchema(f) }

    private mutating func operation(_ r: RoutePlan) -> OrderedJSON {
        var op: [(String, OrderedJSON)] = [("operationId", .string("\(plan.service.name)_\(r.rpc)" + (r.bindingIndex > 0 ? "_\(r.bindingIndex)" : "")))]
        let lines = r.docs.split(separator: "\n").map(String.init)
        if let first = lines.first { op.append(("summary", .string(first))) }
        if lines.count > 1 { op.append(("description", .string(lines.joined(separator: "\n")))) }
        if !r.options.tag.isEmpty { op.append(("tags", .array([.string(r.options.tag)]))) }
        if let a = r.options.authority {
            op.append(("x-openagents-authority", .object([("owner", .string(a.owner)), ("delivery", .string(a.delivery)),
                                                          ("migration_status", .string(a.migrationStatus)), ("rationale", .string(a.rationale))])))
        }
        var params: [OrderedJSON] = []
        for f in r.pathFields {
            params.append(.object([("name", .string(f.path)), ("in", .string("path")), ("required", .bool(true)), ("schema", paramSchema(f))]))
        }
        for f in r.queryFields {
            var p: [(String, OrderedJSON)] = [("name", .string(f.path)), ("in", .string("query"))]
            if r.requiredFields.contains(f.path) { p.append(("required", .bool(true))) }
            p.append(("schema", f.repeated ? .object([("type", .string("array")), ("items", paramSchema(f))]) : paramSchema(f)))
            params.append(.object(p))
        }
        if !params.isEmpty { op.append(("parameters", .array(params))) }
        switch r.body {
        case .none: break
        case .all where r.inputType == ".openagents.api.v1.HttpBody":
            // A raw body (a JSON-RPC message or batch): any value of the route's media type.
            let media = r.options.mediaType.isEmpty ? "application/octet-stream" : String(r.options.mediaType.split(separator: ";").first ?? "")
            op.append(("requestBody", .object([("required", .bool(true)), ("content", .object([(media, .object([("schema", .object([]))]))]))])))
        case .all:
            ref(r.inputType)
            op.append(("requestBody", requestBody(refJSON(r.inputType))))
        case .field(let name):
            if let f = index.message(r.inputType)?.fields.first(where: { $0.name == name }) {
                op.append(("requestBody", requestBody(fieldSchema(f))))
            }
        }
        var responses: [(String, OrderedJSON)] = []
        let declared = Dictionary(r.options.statuses.map { ($0.code, $0.description) }, uniquingKeysWith: { a, _ in a })
        responses.append((String(r.options.successStatus), successResponse(r)))
        var codes = Set(r.options.statuses.map(\.code))
        codes.insert(malformedStatus)
        if r.options.auth != 0 { codes.insert(401) }
        if r.body != .none { codes.formUnion([413, 415]) }
        if r.options.writes { codes.insert(503) }
        for code in codes.sorted() where code != r.options.successStatus {
            let description = declared[code].map { code == malformedStatus && code != 400 ? "\($0) Also a malformed request: \(Self.reasons[400] ?? "")" : $0 }
                ?? (code == malformedStatus ? Self.reasons[400] : nil) ?? Self.reasons[code] ?? "Status \(code)."
            if code == 204 {
                responses.append((String(code), .object([("description", .string(description))])))
            } else if code < 400 {
                responses.append((String(code), successResponse(r, description: description)))
            } else if let e = errorType {
                responses.append((String(code), .object([("description", .string(description)), ("content", .object([("application/json", .object([("schema", refJSON(e))]))]))])))
            } else {
                responses.append((String(code), .object([("description", .string(description))])))
            }
        }
        op.append(("responses", .object(responses)))
        switch r.options.auth {
        case 1: op.append(("security", .array([.object([("runtimeSignature", .array([]))])])))
        case 2: op.append(("security", .array([.object([("session", .array([]))])])))
        case 3: op.append(("security", .array([.object([("syncToken", .array([]))])])))
        default: break
        }
        return .object(op)
    }

    private func requestBody(_ schema: OrderedJSON) -> OrderedJSON {
        .object([("required", .bool(true)), ("content", .object([
            ("application/json", .object([("schema", schema)])),
            ("application/x-protobuf", .object([("schema", .object([("type", .string("string")), ("format", .string("binary"))]))])),
        ]))])
    }

    private mutating func successResponse(_ r: RoutePlan, description: String? = nil) -> OrderedJSON {
        let text = description ?? Self.reasons[r.options.successStatus] ?? "Success."
        if r.serverStreaming && r.options.websocket {
            ref(r.outputType)
            return .object([("description", .string("Switching Protocols: a WebSocket (RFC 6455). Each server message is one text frame holding one \(r.outputType.dropFirst()) as JSON; 4xx answers come before any upgrade."))])
        }
        if r.serverStreaming {
            ref(r.outputType)
            return .object([("description", .string(text + " Server-sent events: `id:` is the event seq, `data:` one \(r.outputType.dropFirst()) as JSON, `data: [DONE]` after the terminal event.")),
                            ("content", .object([("text/event-stream", .object([("schema", .object([("type", .string("string"))]))]))]))])
        }
        if !r.options.mediaType.isEmpty {
            let media = String(r.options.mediaType.split(separator: ";").first ?? "")
            let schema: OrderedJSON = media == "application/json" || media.hasSuffix("+json") ? .object([]) : .object([("type", .string("string"))])
            return .object([("description", .string(text)), ("content", .object([(media, .object([("schema", schema)]))]))])
        }
        var schema = refJSON(r.outputType)
        ref(r.outputType)
        if !r.responseBody.isEmpty, let f = index.message(r.outputType)?.fields.first(where: { $0.name == r.responseBody }) { schema = fieldSchema(f) }
        return .object([("description", .string(text)), ("content", .object([
            ("application/json", .object([("schema", schema)])),
            ("application/x-protobuf", .object([("schema", .object([("type", .string("string")), ("format", .string("binary"))]))])),
        ]))])
    }

    private func paramSchema(_ f: FieldBinding) -> OrderedJSON {
        switch f.kind {
        case .bool: return .object([("type", .string("boolean"))])
        case .number: return .object([("type", .string("number"))])
        case .string, .enumeration: return .object([("type", .string("string"))])
        }
    }
}
