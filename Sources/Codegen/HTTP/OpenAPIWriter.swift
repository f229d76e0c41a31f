import APIRuntime

/// Writes a service's OpenAPI 3.1 document from its route plans and the
/// messages they use. Schemas describe the REST JSON the service writes and
/// accepts: JSON names, 64-bit integers as numbers (strings accepted), enum
/// values by wire word or name, well-known types in their JSON forms.
struct OpenAPIWriter {
    let plan: ServicePlan
    let index: TypeIndex
    private var schemas: [String: OrderedJSON] = [:]
    private var pending: [String] = []

    init(plan: ServicePlan, index: TypeIndex) {
        self.plan = plan
        self.index = index
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
        while let next = pending.popLast() { if schemas[next] == nil { schemas[next] = messageSchema(next) } }
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
        var components: [(String, OrderedJSON)] = [("schemas", .object(schemas.keys.sorted().map { (String($0.dropFirst()), schemas[$0]!) }))]
        if !security.isEmpty { components.append(("securitySchemes", .object(security))) }
        doc.append(("components", .object(components)))
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

    private mutating func ref(_ type: String) {
        if schemas[type] == nil && !pending.contains(type) { pending.append(type) }
    }

    private func refJSON(_ type: String) -> OrderedJSON { .object([("$ref", .string("#/components/schemas/" + type.dropFirst()))]) }

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
            if code < 400 {
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
            return .object([("description", .string(text)), ("content", .object([(media, .object([("schema", .object([("type", .string("string"))]))]))]))])
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

    private mutating func messageSchema(_ type: String) -> OrderedJSON {
        if let special = Self.wellKnown(type) { return special }
        guard let m = index.message(type) else { return .object([]) }
        var props: [(String, OrderedJSON)] = []
        var required: [OrderedJSON] = []
        for f in m.fields {
            props.append((f.jsonName ?? f.name, fieldSchema(f)))
            if f.options.bool(OptionNumbers.required) == true { required.append(.string(f.jsonName ?? f.name)) }
        }
        var out: [(String, OrderedJSON)] = [("type", .string("object"))]
        if !props.isEmpty { out.append(("properties", .object(props))) }
        if !required.isEmpty { out.append(("required", .array(required))) }
        return .object(out)
    }

    private mutating func fieldSchema(_ f: FieldDescriptor) -> OrderedJSON {
        if f.isRepeated, f.kind == .message, let entry = index.message(f.typeName), entry.isMapEntry {
            let value = entry.fields.first { $0.number == 2 }.map { singular($0) } ?? .object([])
            return .object([("type", .string("object")), ("additionalProperties", value)])
        }
        if f.isRepeated { return .object([("type", .string("array")), ("items", singular(f))]) }
        return singular(f)
    }

    private mutating func singular(_ f: FieldDescriptor) -> OrderedJSON {
        func int(_ format: String?, min: Int? = nil, max: Int? = nil) -> OrderedJSON {
            var o: [(String, OrderedJSON)] = [("type", .string("integer"))]
            if let format { o.append(("format", .string(format))) }
            if let min { o.append(("minimum", .int(min))) }
            if let max { o.append(("maximum", .int(max))) }
            return .object(o)
        }
        func int64(signed: Bool) -> OrderedJSON {
            .object([("oneOf", .array([
                .object([("type", .string("integer"))] + (signed ? [] : [("minimum", .int(0))]) + [("format", .string(signed ? "int64" : "uint64"))]),
                .object([("type", .string("string")), ("pattern", .string(signed ? "^-?[0-9]+$" : "^[0-9]+$"))]),
            ]))])
        }
        switch f.kind {
        case .string: return .object([("type", .string("string"))])
        case .bytes: return .object([("type", .string("string")), ("contentEncoding", .string("base64"))])
        case .bool: return .object([("type", .string("boolean"))])
        case .int32, .sint32, .sfixed32: return int("int32")
        case .uint32, .fixed32: return int(nil, min: 0, max: 4_294_967_295)
        case .int64, .sint64, .sfixed64: return int64(signed: true)
        case .uint64, .fixed64: return int64(signed: false)
        case .float, .double: return .object([("type", .string("number"))])
        case .enumeration:
            guard case .enumeration(let e, _, _)? = index.entries[f.typeName] else { return .object([("type", .string("string"))]) }
            var words: [String] = []
            for v in e.values {
                if let w = v.options.string(OptionNumbers.wireWord), !words.contains(w) { words.append(w) }
            }
            for v in e.values where !words.contains(v.name) { words.append(v.name) }
            return .object([("type", .string("string")), ("enum", .array(words.map { .string($0) }))])
        case .message, .group:
            if let special = Self.wellKnown(f.typeName) { return special }
            ref(f.typeName)
            return refJSON(f.typeName)
        }
    }

    static func wellKnown(_ type: String) -> OrderedJSON? {
        func s(_ extra: [(String, OrderedJSON)] = []) -> OrderedJSON { .object([("type", .string("string"))] + extra) }
        switch type {
        case ".google.protobuf.Timestamp": return s([("format", .string("date-time"))])
        case ".google.protobuf.Duration": return s([("pattern", .string("^-?[0-9]+(\\.[0-9]{1,9})?s$"))])
        case ".google.protobuf.FieldMask": return s()
        case ".google.protobuf.Struct": return .object([("type", .string("object")), ("additionalProperties", .bool(true))])
        case ".google.protobuf.Value": return .object([("description", .string("Any JSON value."))])
        case ".google.protobuf.ListValue": return .object([("type", .string("array"))])
        case ".google.protobuf.Empty": return .object([("type", .string("object"))])
        case ".google.protobuf.Any": return .object([("type", .string("object")), ("properties", .object([("@type", s())])), ("required", .array([.string("@type")]))])
        case ".google.protobuf.StringValue", ".google.protobuf.BytesValue": return s()
        case ".google.protobuf.BoolValue": return .object([("type", .string("boolean"))])
        case ".google.protobuf.Int32Value", ".google.protobuf.UInt32Value": return .object([("type", .string("integer"))])
        case ".google.protobuf.DoubleValue", ".google.protobuf.FloatValue": return .object([("type", .string("number"))])
        case ".google.protobuf.Int64Value", ".google.protobuf.UInt64Value":
            return .object([("oneOf", .array([.object([("type", .string("integer"))]), .object([("type", .string("string")), ("pattern", .string("^-?[0-9]+$"))])]))])
        default: return nil
        }
    }
}
