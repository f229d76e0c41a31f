import APIRuntime

/// One rpc's HTTP bindings, resolved against its request and response
/// messages: what the Swift route table, the client and the OpenAPI writer emit.
struct RoutePlan {
    var rpc: String
    var bindingIndex: Int
    var method: String  // "" when the rpc has no REST binding (Connect only)
    var template: PathTemplate?
    var inputType: String
    var outputType: String
    var body: RouteDescriptor.BodyRule
    var responseBody: String
    var serverStreaming: Bool
    var options: RouteOptionsModel
    var docs: String
    var noSideEffects: Bool
    var pathFields: [FieldBinding]
    var queryFields: [FieldBinding]
    var requiredFields: [String]
    /// The Swift accessors of path and query fields (same order as the bindings).
    var pathAccessors: [FieldAccessor]
    var queryAccessors: [FieldAccessor]
}

/// How the client reads one bound field from the request value.
struct FieldAccessor {
    /// `request.runId`, `request.page?.size`.
    var expression: String
    var optional: Bool
    var repeated: Bool
    var format: Format
    enum Format { case string, number, bool, enumeration, bytes }
}

/// A service and its routes.
struct ServicePlan {
    var file: FileDescriptor
    var service: ServiceDescriptor
    var fullName: String
    var docs: String
    var routes: [RoutePlan]
}

/// A problem with an HTTP binding, found at generation (the generator refuses
/// to emit a route table with any).
public struct BindingFinding: Sendable, Equatable, CustomStringConvertible {
    public var rule: String
    public var file: String
    public var rpc: String
    public var message: String
    public var description: String { "\(file): \(rpc): \(message) (\(rule))" }
}

/// Resolves bindings and lints them: the rules of http.proto plus ours.
struct BindingPlanner {
    let index: TypeIndex
    private(set) var findings: [BindingFinding] = []

    init(index: TypeIndex) { self.index = index }

    static let stringLikeWKT: Set<String> = [
        ".google.protobuf.Timestamp", ".google.protobuf.Duration", ".google.protobuf.FieldMask",
        ".google.protobuf.StringValue", ".google.protobuf.BytesValue", ".google.protobuf.Int64Value", ".google.protobuf.UInt64Value",
    ]
    static let numberWKT: Set<String> = [".google.protobuf.Int32Value", ".google.protobuf.UInt32Value", ".google.protobuf.DoubleValue", ".google.protobuf.FloatValue"]

    mutating func plan(file: FileDescriptor) -> [ServicePlan] {
        let doc = SourceComments(file).doc
        var out: [ServicePlan] = []
        for (si, s) in file.services.enumerated() where !s.isJSONRPC {
            let full = (file.package.isEmpty ? "" : file.package + ".") + s.name
            var routes: [RoutePlan] = []
            for (mi, m) in s.methods.enumerated() {
                let where_ = "\(s.name).\(m.name)"
                if m.clientStreaming {
                    report("HTTP_CLIENT_STREAMING", file, where_, "client-streaming rpcs have no HTTP binding here")
                    continue
                }
                let options = RouteOptionsModel(m.options.message(OptionNumbers.route))
                let docs = doc([6, Int32(si), 2, Int32(mi)])
                let noSideEffects = m.options.varint(OptionNumbers.idempotencyLevel) == 1
                var rules: [HTTPRule] = []
                if let raw = m.options.message(OptionNumbers.http), let rule = HTTPRule(raw) {
                    rules.append(rule)
                    for extra in rule.additional {
                        if !extra.additional.isEmpty { report("HTTP_NESTED_ADDITIONAL_BINDINGS", file, where_, "additional_bindings must not nest further bindings") }
                        rules.append(extra)
                    }
                }
                if rules.isEmpty {
                    routes.append(RoutePlan(rpc: m.name, bindingIndex: 0, method: "", template: nil, inputType: m.inputType, outputType: m.outputType,
                                            body: .all, responseBody: "", serverStreaming: m.serverStreaming, options: options, docs: docs,
                                            noSideEffects: noSideEffects, pathFields: [], queryFields: [], requiredFields: required(m.inputType),
                                            pathAccessors: [], queryAccessors: []))
                    continue
                }
                for (bi, rule) in rules.enumerated() {
                    if let r = planBinding(rule, index: bi, method: m, file: file, where: where_, options: options, docs: docs, noSideEffects: noSideEffects) {
                        routes.append(r)
                    }
                }
            }
            // Conflicting templates: peers let the last registered win silently.
            let bound = routes.filter { $0.template != nil }
            for i in bound.indices {
                for j in bound.indices where j > i && bound[i].method == bound[j].method {
                    if let a = bound[i].template, let b = bound[j].template, a.overlaps(b) {
                        report("HTTP_TEMPLATE_CONFLICT", file, "\(s.name).\(bound[j].rpc)",
                               "\(bound[j].method) \(b.source) conflicts with \(bound[i].method) \(a.source) of \(bound[i].rpc): one path can match both")
                    }
                }
            }
            out.append(ServicePlan(file: file, service: s, fullName: full, docs: doc([6, Int32(si)]), routes: routes))
        }
        return out
    }

    private mutating func report(_ rule: String, _ file: FileDescriptor, _ rpc: String, _ message: String) {
        findings.append(BindingFinding(rule: rule, file: file.name, rpc: rpc, message: message))
    }

    private func required(_ type: String) -> [String] {
        (index.message(type)?.fields ?? []).filter { $0.options.bool(OptionNumbers.required) == true }.map(\.name)
    }

    private mutating func planBinding(_ rule: HTTPRule, index bi: Int, method m: MethodDescriptor, file: FileDescriptor, where rpc: String,
                                      options: RouteOptionsModel, docs: String, noSideEffects: Bool) -> RoutePlan? {
        let template: PathTemplate
        do { template = try PathTemplate(rule.path) } catch {
            report("HTTP_TEMPLATE_INVALID", file, rpc, error.description)
            return nil
        }
        guard let input = index.message(m.inputType), let output = index.message(m.outputType) else { return nil }
        if rule.method.isEmpty { report("HTTP_METHOD_MISSING", file, rpc, "custom binding has no method") }
        if options.websocket && (!m.serverStreaming || rule.method != "GET") {
            report("HTTP_WEBSOCKET_NOT_GET_STREAM", file, rpc, "a websocket route must be a server-streaming rpc bound to GET")
        }
        var body: RouteDescriptor.BodyRule = .none
        switch rule.body {
        case "": body = .none
        case "*": body = .all
        default:
            if let f = input.fields.first(where: { $0.name == rule.body }) {
                body = .field(f.name)
                if f.isRepeated { report("HTTP_BODY_REPEATED", file, rpc, "body field \(f.name) is repeated") }
            } else {
                report("HTTP_BODY_UNBOUND", file, rpc, "body names \(rule.body), which is no field of \(m.inputType.dropFirst())")
            }
        }
        if body != .none && (rule.method == "GET" || rule.method == "DELETE") {
            report("HTTP_BODY_ON_GET_OR_DELETE", file, rpc, "\(rule.method) \(rule.path) declares a body; GET and DELETE requests carry none")
        }
        if !rule.responseBody.isEmpty && !output.fields.contains(where: { $0.name == rule.responseBody }) {
            report("HTTP_RESPONSE_BODY_UNBOUND", file, rpc, "response_body names \(rule.responseBody), which is no field of \(m.outputType.dropFirst())")
        }
        var pathFields: [FieldBinding] = []
        var pathAccessors: [FieldAccessor] = []
        var boundPaths: Set<String> = []
        for v in template.variables {
            guard let (binding, accessor, leaf) = resolve(v.fieldPath, in: input) else {
                report("HTTP_PATH_VARIABLE_UNBOUND", file, rpc, "path variable {\(v.fieldPath)} names no field of \(m.inputType.dropFirst())")
                continue
            }
            if leaf.isRepeated {
                report("HTTP_PATH_VARIABLE_REPEATED", file, rpc, "path variable {\(v.fieldPath)} is a repeated field")
                continue
            }
            if leaf.kind == .message {
                report("HTTP_PATH_VARIABLE_MESSAGE", file, rpc, "path variable {\(v.fieldPath)} is a message field")
                continue
            }
            pathFields.append(binding)
            pathAccessors.append(accessor)
            boundPaths.insert(v.fieldPath)
        }
        var queryFields: [FieldBinding] = []
        var queryAccessors: [FieldAccessor] = []
        if body != .all {
            var skipTop: Set<String> = []
            if case .field(let f) = body { skipTop.insert(f) }
            collectQuery(input, prefix: "", jsonPrefix: "", accessor: "request", optionalChain: false, skip: skipTop, bound: boundPaths,
                         file: file, rpc: rpc, depth: 0, into: &queryFields, &queryAccessors)
        }
        return RoutePlan(rpc: m.name, bindingIndex: bi, method: rule.method, template: template, inputType: m.inputType, outputType: m.outputType,
                         body: body, responseBody: rule.responseBody, serverStreaming: m.serverStreaming, options: options, docs: docs,
                         noSideEffects: noSideEffects, pathFields: pathFields, queryFields: queryFields, requiredFields: required(m.inputType),
                         pathAccessors: pathAccessors, queryAccessors: queryAccessors)
    }

    private func jsonName(_ f: FieldDescriptor) -> String { f.jsonName ?? f.name }

    /// Walks a dotted field path through singular message fields.
    private func resolve(_ path: String, in message: MessageDescriptor) -> (FieldBinding, FieldAccessor, FieldDescriptor)? {
        var current = message
        var json: [String] = []
        var expr = "request"
        var optionalChain = false
        let parts = path.split(separator: ".").map(String.init)
        for (i, p) in parts.enumerated() {
            guard let f = current.fields.first(where: { $0.name == p }) else { return nil }
            json.append(jsonName(f))
            let last = i == parts.count - 1
            expr += (optionalChain ? "?." : ".") + Naming.fieldName(f.name)
            if last {
                let (kind, format) = leafKind(f)
                let optional = optionalChain || f.proto3Optional || f.kind == .message
                return (FieldBinding(path: path, jsonPath: json.joined(separator: "."), kind: kind, repeated: f.isRepeated),
                        FieldAccessor(expression: expr, optional: optional, repeated: f.isRepeated, format: format), f)
            }
            guard f.kind == .message, !f.isRepeated, let next = index.message(f.typeName) else { return nil }
            optionalChain = true
            current = next
        }
        return nil
    }

    private func leafKind(_ f: FieldDescriptor) -> (FieldBinding.Kind, FieldAccessor.Format) {
        switch f.kind {
        case .bool: return (.bool, .bool)
        case .int32, .sint32, .sfixed32, .uint32, .fixed32, .float, .double: return (.number, .number)
        case .int64, .sint64, .sfixed64, .uint64, .fixed64: return (.string, .number)
        case .enumeration: return (.enumeration, .enumeration)
        case .bytes: return (.string, .bytes)
        case .message:
            if Self.numberWKT.contains(f.typeName) { return (.number, .number) }
            if f.typeName == ".google.protobuf.BoolValue" { return (.bool, .bool) }
            return (.string, .string)
        default: return (.string, .string)
        }
    }

    private mutating func collectQuery(_ m: MessageDescriptor, prefix: String, jsonPrefix: String, accessor: String, optionalChain: Bool,
                                       skip: Set<String>, bound: Set<String>, file: FileDescriptor, rpc: String, depth: Int,
                                       into fields: inout [FieldBinding], _ accessors: inout [FieldAccessor]) {
        for f in m.fields {
            let path = prefix + f.name
            if depth == 0 && skip.contains(f.name) { continue }
            if bound.contains(path) { continue }
            let json = jsonPrefix + jsonName(f)
            let expr = accessor + (optionalChain ? "?." : ".") + Naming.fieldName(f.name)
            if f.kind == .message && !Self.stringLikeWKT.contains(f.typeName) && !Self.numberWKT.contains(f.typeName) && f.typeName != ".google.protobuf.BoolValue" {
                let entry = index.message(f.typeName)
                if f.isRepeated || entry == nil || entry?.isMapEntry == true || f.typeName.hasPrefix(".google.protobuf.") || depth > 8 {
                    report("HTTP_QUERY_FIELD_MESSAGE", file, rpc, "field \(path) would come from the query string but is \(entry?.isMapEntry == true ? "a map" : f.isRepeated ? "a repeated message" : "a message with no text form"); bind the body to it or move it")
                    continue
                }
                if let entry {
                    collectQuery(entry, prefix: path + ".", jsonPrefix: json + ".", accessor: expr, optionalChain: true, skip: [], bound: bound,
                                 file: file, rpc: rpc, depth: depth + 1, into: &fields, &accessors)
                }
                continue
            }
            let (kind, format) = leafKind(f)
            fields.append(FieldBinding(path: path, jsonPath: json, kind: kind, repeated: f.isRepeated))
            accessors.append(FieldAccessor(expression: expr, optional: optionalChain || f.proto3Optional || f.kind == .message, repeated: f.isRepeated, format: format))
        }
    }
}

/// A file's comments by descriptor path: what a service's and an rpc's docs are.
struct SourceComments {
    private var comments: [[Int32]: SourceLocation] = [:]
    init(_ file: FileDescriptor) { for l in file.locations { comments[l.path] = l } }

    /// Leading and trailing comments of `path`, each line trimmed.
    func doc(_ path: [Int32]) -> String {
        let l = comments[path]
        return [l?.leadingComments, l?.trailingComments].compactMap { $0 }.joined(separator: "\n")
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "\n")
    }
}
