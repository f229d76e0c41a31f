import APIRuntime

/// JSON Schemas of messages as the JSON codec writes and reads them: JSON
/// names, 64-bit integers as numbers (strings accepted), enum values by wire
/// word or name, well-known types in their JSON forms. The OpenAPI and
/// OpenRPC writers share it, so both documents describe one wire.
struct JSONSchemas {
    let index: TypeIndex
    private var schemas: [String: OrderedJSON] = [:]
    private var pending: [String] = []

    init(index: TypeIndex) { self.index = index }

    /// Notes that `type` (a `.pkg.Message` name) is referenced and needs a component.
    mutating func ref(_ type: String) {
        if schemas[type] == nil && !pending.contains(type) { pending.append(type) }
    }

    static func refJSON(_ type: String) -> OrderedJSON { .object([("$ref", .string("#/components/schemas/" + type.dropFirst()))]) }

    /// Every referenced message's schema (and theirs), by name without the leading dot, sorted.
    mutating func resolve() -> [(String, OrderedJSON)] {
        while let next = pending.popLast() { if schemas[next] == nil { schemas[next] = messageSchema(next) } }
        return schemas.keys.sorted().map { (String($0.dropFirst()), schemas[$0]!) }
    }

    private func refJSON(_ type: String) -> OrderedJSON { Self.refJSON(type) }

    mutating func messageSchema(_ type: String) -> OrderedJSON {
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

    mutating func fieldSchema(_ f: FieldDescriptor) -> OrderedJSON {
        if f.isRepeated, f.kind == .message, let entry = index.message(f.typeName), entry.isMapEntry {
            let value = entry.fields.first { $0.number == 2 }.map { singular($0) } ?? .object([])
            return .object([("type", .string("object")), ("additionalProperties", value)])
        }
        if f.isRepeated { return .object([("type", .string("array")), ("items", singular(f))]) }
        return singular(f)
    }

    mutating func singular(_ f: FieldDescriptor) -> OrderedJSON {
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
