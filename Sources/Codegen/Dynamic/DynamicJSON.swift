import ProtoWire

// The JSON codec of DynamicMessage: the same rules as the generated code,
// on the same JSONReader/JSONWriter and WellKnownJSON helpers.

extension DynamicMessage {
    public func jsonBytes(options: JSONEncodingOptions = .init()) throws(DynamicCodecError) -> [UInt8] {
        var w = JSONWriter(options: options)
        encodeJSON(to: &w)
        do { return try w.finish() } catch { throw .encode(error.description) }
    }

    public init(type: MessageType, jsonBytes: [UInt8], options: JSONDecodingOptions = .init()) throws(DynamicCodecError) {
        var m = DynamicMessage(type: type)
        let result: Result<DynamicMessage, JSONDecodingError> = jsonBytes.withUnsafeBytes { buf in
            var r = JSONReader(buf, options: options)
            do throws(JSONDecodingError) {
                try m.decodeJSON(from: &r)
                try r.finish()
                return .success(m)
            } catch { return .failure(error) }
        }
        switch result {
        case .success(let v): self = v
        case .failure(let e): throw .json(e)
        }
    }

    // MARK: Encode

    func writeValue(_ f: FieldDescriptor, _ v: DynamicValue, _ w: inout JSONWriter) {
        switch (f.kind, v) {
        case (.double, .double(let x)): w.writeDouble(x)
        case (.float, .float(let x)): w.writeFloat(x)
        case (.int64, .int(let x)), (.sint64, .int(let x)), (.sfixed64, .int(let x)): w.writeInt64(x)
        case (_, .int(let x)): w.writeInt32(Int32(truncatingIfNeeded: x))
        case (.uint64, .uint(let x)), (.fixed64, .uint(let x)): w.writeUInt64(x)
        case (_, .uint(let x)): w.writeUInt32(UInt32(truncatingIfNeeded: x))
        case (_, .bool(let x)): w.writeBool(x)
        case (_, .string(let x)): w.writeString(x)
        case (_, .bytes(let x)): w.writeBytes(x)
        case (_, .enumNumber(let n)):
            if f.typeName == ".google.protobuf.NullValue" { w.writeNull(); return }
            if !w.options.enumsAsNumbers, let e = type.pool.enumeration(f.typeName), let name = e.values.first(where: { $0.number == n })?.name {
                w.writeString(name)
            } else {
                w.writeInt32(n)
            }
        case (_, .message(let m)): m.encodeJSON(to: &w)
        default: w.writeNull()
        }
    }

    func keyString(_ v: DynamicValue) -> String {
        switch v {
        case .string(let s): return s
        case .int(let x): return String(x)
        case .uint(let x): return String(x)
        case .bool(let b): return b ? "true" : "false"
        default: return ""
        }
    }

    public func encodeJSON(to w: inout JSONWriter) {
        if encodeWellKnownJSON(to: &w) { return }
        w.beginObject()
        encodeJSONFields(to: &w)
        w.endObject()
    }

    func encodeJSONFields(to w: inout JSONWriter) {
        for f in type.sortedFields {
            let name = w.options.preserveProtoFieldNames ? f.name : (f.jsonName ?? Naming.lowerCamel(_s: f.name))
            if let entry = type.mapEntry(f) {
                let m = maps[f.number] ?? [:]
                guard !m.isEmpty || w.emitDefaults else { continue }
                let vf = entry.fieldsByNumber[2] ?? FieldDescriptor()
                w.key(name)
                w.beginObject()
                let pairs = w.deterministic ? m.sorted { DynamicMessage.less($0.key, $1.key) } : Array(m)
                for (k, v) in pairs { w.key(keyString(k)); writeValue(vf, v, &w) }
                w.endObject()
            } else if f.isRepeated {
                let vs = repeated[f.number] ?? []
                guard !vs.isEmpty || w.emitDefaults else { continue }
                w.key(name)
                w.beginArray()
                for v in vs { writeValue(f, v, &w) }
                w.endArray()
            } else if let v = singular[f.number], hasPresence(f) || !DynamicMessage.isZero(v) {
                w.key(name)
                writeValue(f, v, &w)
            } else if w.emitDefaults && !hasPresence(f) {
                w.key(name)
                writeValue(f, DynamicMessage.zero(f, pool: type.pool), &w)
            }
        }
    }


    /// Special forms of the well-known types; false for ordinary messages.
    func encodeWellKnownJSON(to w: inout JSONWriter) -> Bool {
        func int(_ n: Int32) -> Int64 { if case .int(let x)? = singular[n] { return x }; return 0 }
        switch type.name {
        case "google.protobuf.Timestamp":
            if !w.writeTimestamp(seconds: int(1), nanos: Int32(truncatingIfNeeded: int(2))) { w.fail("Timestamp out of range"); w.writeNull() }
        case "google.protobuf.Duration":
            if let s = WellKnownJSON.formatDuration(seconds: int(1), nanos: Int32(truncatingIfNeeded: int(2))) { w.writeString(s) } else { w.fail("Duration out of range"); w.writeNull() }
        case "google.protobuf.FieldMask":
            var parts: [String] = []
            for case .string(let p) in repeated[1] ?? [] {
                if let j = WellKnownJSON.fieldMaskPathToJSON(p) { parts.append(j) } else { w.fail("FieldMask path \"\(p)\" has no JSON form") }
            }
            w.writeString(parts.joined(separator: ","))
        case "google.protobuf.Struct":
            w.beginObject()
            let m = maps[1] ?? [:]
            let pairs = w.deterministic ? m.sorted { DynamicMessage.less($0.key, $1.key) } : Array(m)
            for (k, v) in pairs { w.key(keyString(k)); if case .message(let value) = v { value.encodeJSON(to: &w) } }
            w.endObject()
        case "google.protobuf.ListValue":
            w.beginArray()
            for case .message(let value) in repeated[1] ?? [] { value.encodeJSON(to: &w) }
            w.endArray()
        case "google.protobuf.Value":
            if singular[1] != nil { w.writeNull() }
            else if case .double(let d)? = singular[2] { if !d.isFinite { w.fail("Value number has no JSON form") }; w.writeDouble(d) }
            else if case .string(let s)? = singular[3] { w.writeString(s) }
            else if case .bool(let b)? = singular[4] { w.writeBool(b) }
            else if case .message(let m)? = singular[5] { m.encodeJSON(to: &w) }
            else if case .message(let m)? = singular[6] { m.encodeJSON(to: &w) }
            else { w.fail("Value has no kind set"); w.writeNull() }
        case "google.protobuf.Any":
            var url = "", value: [UInt8] = []
            if case .string(let s)? = singular[1] { url = s }
            if case .bytes(let b)? = singular[2] { value = b }
            if url.isEmpty && value.isEmpty { w.beginObject(); w.endObject(); return true }
            guard let slash = url.lastIndex(of: "/"), let t = type.pool.message(String(url[url.index(after: slash)...])),
                  let inner = try? DynamicMessage(type: t, serializedBytes: value) else {
                w.fail("Any: type \"\(url)\" is not in the descriptor set"); w.writeNull(); return true
            }
            w.beginObject()
            w.key("@type"); w.writeString(url)
            if WellKnownJSON.specialJSONTypes.contains(t.name) { w.key("value"); inner.encodeJSON(to: &w) } else { inner.encodeJSONFields(to: &w) }
            w.endObject()
        default:
            if type.name.hasPrefix("google.protobuf."), type.name.hasSuffix("Value"), type.fieldsByNumber.count == 1, let f = type.fieldsByNumber[1] {
                writeValue(f, singular[1] ?? DynamicMessage.zero(f, pool: type.pool), &w)  // wrappers
                return true
            }
            return false
        }
        return true
    }

    // MARK: Decode

    func readValue(_ f: FieldDescriptor, _ r: inout JSONReader) throws(JSONDecodingError) -> DynamicValue? {
        switch f.kind {
        case .double: return .double(try r.readDouble())
        case .float: return .float(try r.readFloat())
        case .int64, .sint64, .sfixed64: return .int(try r.readInt64())
        case .int32, .sint32, .sfixed32: return .int(Int64(try r.readInt32()))
        case .uint64, .fixed64: return .uint(try r.readUInt64())
        case .uint32, .fixed32: return .uint(UInt64(try r.readUInt32()))
        case .bool: return .bool(try r.readBool())
        case .string: return .string(try r.readString())
        case .bytes: return .bytes(try r.readBytes())
        case .enumeration:
            if f.typeName == ".google.protobuf.NullValue", r.consumeNull() { return .enumNumber(0) }
            if r.peek() == 0x22 {
                let name = try r.readString()
                if let e = type.pool.enumeration(f.typeName), let v = e.values.first(where: { $0.name == name }) { return .enumNumber(v.number) }
                if r.options.ignoreUnknownFields { return nil }
                throw r.error("unknown enum value \"\(name)\"")
            }
            return .enumNumber(try r.readInt32())
        case .message, .group:
            guard let t = type.pool.message(f.typeName) else { throw r.error("unknown message type \(f.typeName)") }
            var m = DynamicMessage(type: t)
            try m.decodeJSON(from: &r)
            return .message(m)
        }
    }

    func nullIsAValue(_ f: FieldDescriptor) -> Bool {
        f.typeName == ".google.protobuf.Value" || f.typeName == ".google.protobuf.NullValue"
    }

    func mapKey(_ f: FieldDescriptor, _ k: String, _ r: inout JSONReader) throws(JSONDecodingError) -> DynamicValue {
        switch f.kind {
        case .string: return .string(k)
        case .bool: return .bool(try r.mapKeyBool(k))
        case .int32, .sint32, .sfixed32: return .int(Int64(try r.mapKeyInt32(k)))
        case .uint32, .fixed32: return .uint(UInt64(try r.mapKeyUInt32(k)))
        case .uint64, .fixed64: return .uint(try r.mapKeyUInt64(k))
        default: return .int(try r.mapKeyInt64(k))
        }
    }

    public mutating func decodeJSON(from r: inout JSONReader) throws(JSONDecodingError) {
        if try decodeWellKnownJSON(from: &r) { return }
        var more = try r.beginObject()
        var seenFields: Set<Int32> = []
        var seenOneofs: Set<Int32> = []
        while more {
            let key = try r.readKeyString()
            guard let f = type.fieldsByName[key] else {
                try Array(key.utf8).withUnsafeBufferPointer { (k) throws(JSONDecodingError) in try r.unknownField(k) }
                more = try r.nextMember()
                continue
            }
            if !seenFields.insert(f.number).inserted { throw r.error("duplicate field") }
            if let entry = type.mapEntry(f) {
                let kf = entry.fieldsByNumber[1] ?? FieldDescriptor(), vf = entry.fieldsByNumber[2] ?? FieldDescriptor()
                maps[f.number] = [:]
                if !r.consumeNull() {
                    var m: [DynamicValue: DynamicValue] = [:]
                    try r.readObject(allowingNull: nullIsAValue(vf)) { (r, k) throws(JSONDecodingError) in
                        let keyValue = try mapKey(kf, k, &r)
                        if let v = try readValue(vf, &r), m.updateValue(v, forKey: keyValue) != nil { throw r.error("duplicate map key") }
                    }
                    maps[f.number] = m
                }
            } else if f.isRepeated {
                var vs: [DynamicValue] = []
                if !r.consumeNull() {
                    try r.readArray { (r: inout JSONReader) throws(JSONDecodingError) in if let v = try readValue(f, &r) { vs.append(v) } }
                }
                repeated[f.number] = vs
            } else if !nullIsAValue(f), r.consumeNull() {
                singular[f.number] = nil
            } else {
                if let o = type.oneofIndex(f), !seenOneofs.insert(o).inserted { throw r.error("oneof is already set") }
                if let v = try readValue(f, &r) { singular[f.number] = v }
            }
            more = try r.nextMember()
        }
    }

    mutating func decodeWellKnownJSON(from r: inout JSONReader) throws(JSONDecodingError) -> Bool {
        switch type.name {
        case "google.protobuf.Timestamp":
            let s = try r.readString()
            guard let t = WellKnownJSON.parseTimestamp(s) else { throw r.error("invalid Timestamp \"\(s)\"") }
            if t.seconds != 0 { singular[1] = .int(t.seconds) }
            if t.nanos != 0 { singular[2] = .int(Int64(t.nanos)) }
        case "google.protobuf.Duration":
            let s = try r.readString()
            guard let d = WellKnownJSON.parseDuration(s) else { throw r.error("invalid Duration \"\(s)\"") }
            if d.seconds != 0 { singular[1] = .int(d.seconds) }
            if d.nanos != 0 { singular[2] = .int(Int64(d.nanos)) }
        case "google.protobuf.FieldMask":
            let s = try r.readString()
            var paths: [DynamicValue] = []
            for part in s.split(separator: ",", omittingEmptySubsequences: false) where !s.isEmpty {
                guard let p = WellKnownJSON.fieldMaskPathFromJSON(String(part)) else { throw r.error("invalid FieldMask path") }
                paths.append(.string(p))
            }
            repeated[1] = paths
        case "google.protobuf.Struct":
            guard let valueType = type.pool.message("google.protobuf.Value") else { return false }
            var m: [DynamicValue: DynamicValue] = [:]
            try r.readObject(allowingNull: true) { (r, k) throws(JSONDecodingError) in
                var v = DynamicMessage(type: valueType)
                try v.decodeJSON(from: &r)
                if m.updateValue(.message(v), forKey: .string(k)) != nil { throw r.error("duplicate key") }
            }
            maps[1] = m
        case "google.protobuf.ListValue":
            guard let valueType = type.pool.message("google.protobuf.Value") else { return false }
            var vs: [DynamicValue] = []
            try r.readArrayAllowingNull { (r: inout JSONReader) throws(JSONDecodingError) in
                var v = DynamicMessage(type: valueType)
                try v.decodeJSON(from: &r)
                vs.append(.message(v))
            }
            repeated[1] = vs
        case "google.protobuf.Value":
            switch r.peek() {
            case UInt8(ascii: "n"): guard r.consumeNull() else { throw r.error("invalid literal") }; singular[1] = .enumNumber(0)
            case 0x22: singular[3] = .string(try r.readString())
            case UInt8(ascii: "t"), UInt8(ascii: "f"): singular[4] = .bool(try r.readBool())
            case UInt8(ascii: "{"):
                guard let t = type.pool.message("google.protobuf.Struct") else { return false }
                var s = DynamicMessage(type: t); try s.decodeJSON(from: &r); singular[5] = .message(s)
            case UInt8(ascii: "["):
                guard let t = type.pool.message("google.protobuf.ListValue") else { return false }
                var l = DynamicMessage(type: t); try l.decodeJSON(from: &r); singular[6] = .message(l)
            default: singular[2] = .double(try r.readDouble())
            }
        case "google.protobuf.Any":
            try decodeAnyJSON(from: &r)
        default:
            if type.name.hasPrefix("google.protobuf."), type.name.hasSuffix("Value"), type.fieldsByNumber.count == 1, let f = type.fieldsByNumber[1] {
                if let v = try readValue(f, &r), !DynamicMessage.isZero(v) { singular[1] = v }
                return true
            }
            return false
        }
        return true
    }

    mutating func decodeAnyJSON(from r: inout JSONReader) throws(JSONDecodingError) {
        let start = r.position
        var found: String?
        var more = try r.beginObject()
        if !more { return }
        while more {
            let key = try r.readKeyString()
            if key == "@type" {
                if found != nil { throw r.error("duplicate @type") }
                found = try r.readString()
            } else {
                try r.skipValue()
            }
            more = try r.nextMember()
        }
        guard let url = found else { throw r.error("Any: missing @type") }
        guard let slash = url.lastIndex(of: "/"), let t = type.pool.message(String(url[url.index(after: slash)...])) else {
            throw r.error("Any: type \"\(url)\" is not in the descriptor set")
        }
        r.rewind(to: start)
        var inner = DynamicMessage(type: t)
        if WellKnownJSON.specialJSONTypes.contains(t.name) {
            more = try r.beginObject()
            while more {
                let key = try r.readKeyString()
                if key == "@type" { try r.skipValue() } else if key == "value" { try inner.decodeJSON(from: &r) } else { throw r.error("Any: unexpected member \"\(key)\"") }
                more = try r.nextMember()
            }
        } else {
            let saved = r.anyTypeDepth
            r.anyTypeDepth = r.depthForNextObject
            try inner.decodeJSON(from: &r)
            r.anyTypeDepth = saved
        }
        singular[1] = .string(url)
        let bytes = inner.serializedBytes()
        if !bytes.isEmpty { singular[2] = .bytes(bytes) }
    }
}
