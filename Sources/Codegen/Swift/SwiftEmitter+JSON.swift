// The JSON half of the emitter: encodeJSONFields / decodeJSON per message,
// and the special forms of the well-known types (which call into
// ProtoWire's WellKnownJSON, where those rules live and are tested).

extension SwiftEmitter {
    static let wrapperTypes: [String: String] = [
        ".google.protobuf.DoubleValue": "Double", ".google.protobuf.FloatValue": "Float",
        ".google.protobuf.Int64Value": "Int64", ".google.protobuf.UInt64Value": "UInt64",
        ".google.protobuf.Int32Value": "Int32", ".google.protobuf.UInt32Value": "UInt32",
        ".google.protobuf.BoolValue": "Bool", ".google.protobuf.StringValue": "String",
        ".google.protobuf.BytesValue": "Bytes",
    ]

    /// How one value is written to JSON.
    func jsonWrite(_ v: ValueKind, _ descriptor: FieldDescriptor, _ x: String) -> String {
        switch v {
        case .scalar:
            switch descriptor.kind {
            case .double: return "w.writeDouble(\(x))"
            case .float: return "w.writeFloat(\(x))"
            case .int32, .sint32, .sfixed32: return "w.writeInt32(\(x))"
            case .uint32, .fixed32: return "w.writeUInt32(\(x))"
            case .int64, .sint64, .sfixed64: return "w.writeInt64(\(x))"
            case .uint64, .fixed64: return "w.writeUInt64(\(x))"
            case .bool: return "w.writeBool(\(x))"
            case .string: return "w.writeString(\(x))"
            case .bytes: return "w.writeBytes(\(x))"
            default: return "w.writeNull()"
            }
        case .enumeration:
            return descriptor.typeName == ".google.protobuf.NullValue" ? "w.writeNull()" : "w.writeEnum(\(x))"
        case .message:
            return "\(x).encodeJSON(to: &w)"
        }
    }

    /// How one value is read from JSON: a statement that ends with `assign(value)`.
    func jsonRead(_ v: ValueKind, _ descriptor: FieldDescriptor, assign: (String) -> String) -> String {
        switch v {
        case .scalar:
            let fn: String
            switch descriptor.kind {
            case .double: fn = "readDouble"
            case .float: fn = "readFloat"
            case .int32, .sint32, .sfixed32: fn = "readInt32"
            case .uint32, .fixed32: fn = "readUInt32"
            case .int64, .sint64, .sfixed64: fn = "readInt64"
            case .uint64, .fixed64: fn = "readUInt64"
            case .bool: fn = "readBool"
            case .string: fn = "readString"
            default: fn = "readBytes"
            }
            return assign("try r.\(fn)()")
        case .enumeration(let t):
            if descriptor.typeName == ".google.protobuf.NullValue" {
                return "if r.consumeNull() { \(assign(".nullValue")) } else if let e = try r.readEnum(\(t).self) { \(assign("e")) }"
            }
            return "if let e = try r.readEnum(\(t).self) { \(assign("e")) }"
        case .message(let t):
            return "var v = \(t)(); try r.readMessage(into: &v); \(assign("v"))"
        }
    }

    /// Types whose JSON `null` is a value rather than "absent".
    func nullIsAValue(_ d: FieldDescriptor) -> Bool {
        d.typeName == ".google.protobuf.Value" || d.typeName == ".google.protobuf.NullValue"
    }

    mutating func emitJSON(_ m: MessageDescriptor, proto: String, plans: [FieldPlan], oneofs: [Int: (type: String, property: String)]) {
        emitJSONEncodeFields(plans, oneofs: oneofs)
        out.line()
        if emitWellKnownJSON(proto) { return }
        emitJSONDecode(plans, oneofs: oneofs)
        if plans.isEmpty { return }
        out.line()
        var names: [String] = []
        for (slot, p) in plans.enumerated() {
            let json = p.descriptor.jsonName ?? Naming.lowerCamel(_s: p.descriptor.name)
            names.append("(\"\(json)\", \(slot))")
            if json != p.descriptor.name { names.append("(\"\(p.descriptor.name)\", \(slot))") }
        }
        out.line("private static let _jsonFieldNames = JSONFieldNames([\(names.joined(separator: ", "))])")
    }

    private func quotedKey(_ name: String) -> String { "\"\\\"\(name)\\\":\"" }

    mutating func emitJSONEncodeFields(_ plans: [FieldPlan], oneofs: [Int: (type: String, property: String)]) {
        out.open("public func encodeJSONFields(to w: inout JSONWriter)")
        var doneOneofs: Set<Int> = []
        for p in plans.sorted(by: { $0.number < $1.number }) {
            let d = p.descriptor
            let key = "w.key(\(quotedKey(d.jsonName ?? Naming.lowerCamel(_s: d.name))), \(quotedKey(d.name)))"
            let x = p.name
            switch p.shape {
            case .singular:
                let check: String
                switch p.value {
                case .scalar(let s): check = s.nonDefault(x)
                case .enumeration: check = "\(x).rawValue != 0"
                case .message: check = "true"
                }
                out.line("if \(check) || w.emitDefaults { \(key); \(jsonWrite(p.value, d, x)) }")
            case .optional:
                out.line("if let v = \(x) { \(key); \(jsonWrite(p.value, d, "v")) }")
            case .repeated:
                out.line("if !\(x).isEmpty || w.emitDefaults { \(key); w.beginArray(); for v in \(x) { \(jsonWrite(p.value, d, "v")) }; w.endArray() }")
            case .map(let k, let v):
                let entry = self.index.message(d.typeName)
                let kd = entry?.fields.first { $0.number == 1 } ?? FieldDescriptor()
                let vd = entry?.fields.first { $0.number == 2 } ?? FieldDescriptor()
                let keyString: String
                switch kd.kind {
                case .string: keyString = "e.key"
                case .bool: keyString = "e.key ? \"true\" : \"false\""
                default: keyString = "String(e.key)"
                }
                let less = k.swiftType == "Bool" ? "!$0.key && $1.key" : "$0.key < $1.key"
                let body = "w.key(\(keyString)); \(jsonWrite(v, vd, "e.value"))"
                out.open("if !\(x).isEmpty || w.emitDefaults")
                out.line("\(key); w.beginObject()")
                out.line("if w.deterministic { for e in \(x).sorted(by: { \(less) }) { \(body) } } else { for e in \(x) { \(body) } }")
                out.line("w.endObject()")
                out.close()
            case .oneofMember(let o):
                guard let names = oneofs[o], doneOneofs.insert(o).inserted else { continue }
                let members = plans.filter { if case .oneofMember(let x) = $0.shape { return x == o }; return false }
                out.openSwitch(names.property)
                for mp in members {
                    let md = mp.descriptor
                    let mkey = "w.key(\(quotedKey(md.jsonName ?? Naming.lowerCamel(_s: md.name))), \(quotedKey(md.name)))"
                    let write = jsonWrite(mp.value, md, "v")
                    let binding = write.contains("(v") || write.hasPrefix("v.") ? "(let v)" : ""  // NullValue writes null without its value
                    out.line("case .\(mp.name)\(binding)?: \(mkey); \(write)")
                }
                out.line("case nil: break")
                out.closeSwitch()
            }
        }
        out.close()
    }

    mutating func emitJSONDecode(_ plans: [FieldPlan], oneofs: [Int: (type: String, property: String)]) {
        out.open("public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError)")
        if plans.isEmpty {
            // No fields: every member is unknown (an error unless ignoring unknown fields).
            out.line("var more = try r.beginObject()")
            out.open("while more")
            out.line("try r.unknownField(try r.readKey())")
            out.line("more = try r.nextMember()")
            out.close()
            out.close()
            return
        }
        out.line("let names = Self._jsonFieldNames")
        out.line("var more = try r.beginObject()")
        out.line("var seen = JSONSeenFields()")
        if !oneofs.isEmpty { out.line("var oneofs = JSONSeenFields()") }
        out.open("while more")
        out.line("let key = try r.readKey()")
        out.openSwitch("names.slot(key)")
        for (slot, p) in plans.enumerated() {
            let d = p.descriptor
            // `self.`: a field may share a name with a local of this method (`key`).
            let x = "self." + p.name
            let claim = "try r.claim(&seen, \(slot))"
            switch p.shape {
            case .singular:
                let zero = p.value.defaultExpr(enumZero: enumZero)
                let read = jsonRead(p.value, d) { "\(x) = \($0)" }
                if nullIsAValue(d) {
                    out.line("case \(slot): \(claim); \(read)")
                } else {
                    out.line("case \(slot): \(claim); if r.consumeNull() { \(x) = \(zero) } else { \(read) }")
                }
            case .optional:
                if case .message = p.value, nullIsAValue(d) {
                    out.line("case \(slot): \(claim); try r.readMessage(into: &\(x))")
                } else if case .message = p.value {
                    out.line("case \(slot): \(claim); if r.consumeNull() { \(x) = nil } else { try r.readMessage(into: &\(x)) }")
                } else {
                    out.line("case \(slot): \(claim); if r.consumeNull() { \(x) = nil } else { \(jsonRead(p.value, d) { "\(x) = \($0)" }) }")
                }
            case .repeated:
                let reader = nullIsAValue(d) ? "readArrayAllowingNull" : "readArray"
                out.line("case \(slot): \(claim); if r.consumeNull() { \(x) = [] } else { try r.\(reader) { r throws(JSONDecodingError) in \(jsonRead(p.value, d) { "\(x).append(\($0))" }) } }")
            case .map(_, let v):
                let entry = self.index.message(d.typeName)
                let kd = entry?.fields.first { $0.number == 1 } ?? FieldDescriptor()
                let vd = entry?.fields.first { $0.number == 2 } ?? FieldDescriptor()
                let keyExpr: String
                switch kd.kind {
                case .string: keyExpr = "k"
                case .bool: keyExpr = "try r.mapKeyBool(k)"
                case .int32, .sint32, .sfixed32: keyExpr = "try r.mapKeyInt32(k)"
                case .uint32, .fixed32: keyExpr = "try r.mapKeyUInt32(k)"
                case .uint64, .fixed64: keyExpr = "try r.mapKeyUInt64(k)"
                default: keyExpr = "try r.mapKeyInt64(k)"
                }
                let allow = nullIsAValue(vd) ? "allowingNull: true, " : ""
                out.line("case \(slot): \(claim); if r.consumeNull() { \(x) = [:] } else { try r.readObject(\(allow)_: { r, k throws(JSONDecodingError) in let key = \(keyExpr); \(jsonRead(v, vd) { "if \(x).updateValue(\($0), forKey: key) != nil { throw r.error(\"duplicate map key\") }" }) }) }")
            case .oneofMember(let o):
                guard let names = oneofs[o] else { continue }
                let read = jsonRead(p.value, d) { "self.\(names.property) = .\(p.name)(\($0))" }
                let claimOneof = "try r.claimOneof(&oneofs, \(o))"
                if nullIsAValue(d) {
                    out.line("case \(slot): \(claim); \(claimOneof); \(read)")
                } else {
                    out.line("case \(slot): \(claim); if !r.consumeNull() { \(claimOneof); \(read) }")
                }
            }
        }
        out.line("default: try r.unknownField(key)")
        out.closeSwitch()
        out.line("more = try r.nextMember()")
        out.close()
        out.close()
    }

    /// Special JSON forms; returns true when `proto` is such a type (its decodeJSON and encodeJSON are emitted).
    mutating func emitWellKnownJSON(_ proto: String) -> Bool {
        if let wrapped = SwiftEmitter.wrapperTypes[proto] {
            out.line("public func encodeJSON(to w: inout JSONWriter) { w.write\(wrapped)(value) }")
            out.line("public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError) { value = try r.read\(wrapped)() }")
            return true
        }
        switch proto {
        case ".google.protobuf.Timestamp":
            out.open("public func encodeJSON(to w: inout JSONWriter)")
            out.line("if !w.writeTimestamp(seconds: seconds, nanos: nanos) { w.fail(\"Timestamp out of range: \\(seconds)s \\(nanos)ns\"); w.writeNull() }")
            out.close()
            out.open("public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError)")
            out.line("let s = try r.readStringBytes()")
            out.line("guard let t = WellKnownJSON.parseTimestamp(s) else { throw r.error(\"invalid Timestamp \\\"\\(String(decoding: s, as: UTF8.self))\\\"\") }")
            out.line("seconds = t.seconds; nanos = t.nanos")
            out.close()
        case ".google.protobuf.Duration":
            out.open("public func encodeJSON(to w: inout JSONWriter)")
            out.line("if let s = WellKnownJSON.formatDuration(seconds: seconds, nanos: nanos) { w.writeString(s) } else { w.fail(\"Duration out of range: \\(seconds)s \\(nanos)ns\"); w.writeNull() }")
            out.close()
            out.open("public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError)")
            out.line("let s = try r.readString()")
            out.line("guard let d = WellKnownJSON.parseDuration(s) else { throw r.error(\"invalid Duration \\\"\\(s)\\\"\") }")
            out.line("seconds = d.seconds; nanos = d.nanos")
            out.close()
        case ".google.protobuf.FieldMask":
            out.open("public func encodeJSON(to w: inout JSONWriter)")
            out.line("var parts: [String] = []")
            out.line("for p in paths { if let j = WellKnownJSON.fieldMaskPathToJSON(p) { parts.append(j) } else { w.fail(\"FieldMask path \\\"\\(p)\\\" has no JSON form\") } }")
            out.line("w.writeString(parts.joined(separator: \",\"))")
            out.close()
            out.open("public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError)")
            out.line("let s = try r.readString()")
            out.line("paths = []")
            out.open("for part in s.split(separator: \",\", omittingEmptySubsequences: false) where !s.isEmpty")
            out.line("guard let p = WellKnownJSON.fieldMaskPathFromJSON(String(part)) else { throw r.error(\"invalid FieldMask path \\\"\\(part)\\\"\") }")
            out.line("paths.append(p)")
            out.close()
            out.close()
        case ".google.protobuf.Struct":
            out.open("public func encodeJSON(to w: inout JSONWriter)")
            out.line("w.beginObject()")
            out.line("if w.deterministic { for e in fields.sorted(by: { $0.key < $1.key }) { w.key(e.key); e.value.encodeJSON(to: &w) } } else { for e in fields { w.key(e.key); e.value.encodeJSON(to: &w) } }")
            out.line("w.endObject()")
            out.close()
            out.open("public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError)")
            out.line("try r.readObject(allowingNull: true) { r, k throws(JSONDecodingError) in var v = GoogleProtobuf.Value(); try v.decodeJSON(from: &r); if fields.updateValue(v, forKey: k) != nil { throw r.error(\"duplicate key\") } }")
            out.close()
        case ".google.protobuf.ListValue":
            out.open("public func encodeJSON(to w: inout JSONWriter)")
            out.line("w.beginArray(); for v in values { v.encodeJSON(to: &w) }; w.endArray()")
            out.close()
            out.open("public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError)")
            out.line("try r.readArrayAllowingNull { r throws(JSONDecodingError) in var v = GoogleProtobuf.Value(); try v.decodeJSON(from: &r); values.append(v) }")
            out.close()
        case ".google.protobuf.Value":
            out.open("public func encodeJSON(to w: inout JSONWriter)")
            out.openSwitch("kind")
            out.line("case .nullValue?: w.writeNull()")
            out.line("case .numberValue(let d)?: if !d.isFinite { w.fail(\"Value number \\(d) has no JSON form\") }; w.writeDouble(d)")
            out.line("case .stringValue(let s)?: w.writeString(s)")
            out.line("case .boolValue(let b)?: w.writeBool(b)")
            out.line("case .structValue(let s)?: s.encodeJSON(to: &w)")
            out.line("case .listValue(let l)?: l.encodeJSON(to: &w)")
            out.line("case nil: w.fail(\"Value has no kind set\"); w.writeNull()")
            out.closeSwitch()
            out.close()
            out.open("public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError)")
            out.openSwitch("r.peek()")
            out.line("case UInt8(ascii: \"n\"): if r.consumeNull() { kind = .nullValue(.nullValue) } else { throw r.error(\"invalid literal\") }")
            out.line("case UInt8(ascii: \"\\\"\"): kind = .stringValue(try r.readString())")
            out.line("case UInt8(ascii: \"t\"), UInt8(ascii: \"f\"): kind = .boolValue(try r.readBool())")
            out.line("case UInt8(ascii: \"{\"): var s = GoogleProtobuf.Struct(); try s.decodeJSON(from: &r); kind = .structValue(s)")
            out.line("case UInt8(ascii: \"[\"): var l = GoogleProtobuf.ListValue(); try l.decodeJSON(from: &r); kind = .listValue(l)")
            out.line("default: kind = .numberValue(try r.readDouble())")
            out.closeSwitch()
            out.close()
        case ".google.protobuf.Any":
            out.line("public func encodeJSON(to w: inout JSONWriter) { WellKnownJSON.encodeAny(typeURL: typeUrl, value: value, to: &w) }")
            out.line("public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError) { try WellKnownJSON.decodeAny(from: &r, typeURL: &typeUrl, value: &value) }")
        default:
            return false
        }
        return true
    }
}
