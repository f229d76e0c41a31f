import ProtoWire

// The binary codec of DynamicMessage, on the same WireReader/WireWriter as generated code.

extension DynamicMessage {
    public init(type: MessageType, serializedBytes bytes: [UInt8]) throws(DynamicCodecError) {
        self.init(type: type)
        var m = self
        let result: Result<DynamicMessage, WireDecodingError> = bytes.withUnsafeBytes { buf in
            var r = WireReader(buf)
            do throws(WireDecodingError) { try m.decode(from: &r, depth: 0); return .success(m) } catch { return .failure(error) }
        }
        switch result {
        case .success(let v): self = v
        case .failure(let e): throw .wire(e)
        }
    }

    static func wireType(_ k: FieldDescriptor.Kind) -> UInt32 {
        switch k {
        case .double, .fixed64, .sfixed64: return 1
        case .float, .fixed32, .sfixed32: return 5
        case .string, .bytes, .message: return 2
        case .group: return 3
        default: return 0
        }
    }

    func readScalar(_ f: FieldDescriptor, _ r: inout WireReader, depth: Int) throws(WireDecodingError) -> DynamicValue {
        switch f.kind {
        case .double: return .double(try r.readDouble())
        case .float: return .float(try r.readFloat())
        case .int64: return .int(try r.readInt64())
        case .sint64: return .int(try r.readSInt64())
        case .sfixed64: return .int(try r.readSFixed64())
        case .int32: return .int(Int64(try r.readInt32()))
        case .sint32: return .int(Int64(try r.readSInt32()))
        case .sfixed32: return .int(Int64(try r.readSFixed32()))
        case .uint64: return .uint(try r.readUInt64())
        case .fixed64: return .uint(try r.readFixed64())
        case .uint32: return .uint(UInt64(try r.readUInt32()))
        case .fixed32: return .uint(UInt64(try r.readFixed32()))
        case .bool: return .bool(try r.readBool())
        case .string: return .string(try r.readString())
        case .bytes: return .bytes(try r.readBytes())
        case .enumeration: return .enumNumber(try r.readEnum())
        case .message, .group:
            guard let t = type.pool.message(f.typeName) else { throw r.error(.invalidLength) }
            var sub = DynamicMessage(type: t)
            try r.readEmbedded { (r: inout WireReader) throws(WireDecodingError) in try sub.decode(from: &r, depth: depth + 1) }
            return .message(sub)
        }
    }

    mutating func decode(from r: inout WireReader, depth: Int) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            guard let f = type.fieldsByNumber[Int32(tag >> 3)] else {
                var u = UnknownFields(bytes: unknown)
                try r.skipUnknown(tag, into: &u)
                unknown = u.bytes
                continue
            }
            let expected = DynamicMessage.wireType(f.kind)
            let wt = tag & 7
            if let entry = type.mapEntry(f) {
                guard wt == 2 else { throw r.wrongWireType(tag) }
                var entryMessage = DynamicMessage(type: entry)
                try r.readEmbedded { (r: inout WireReader) throws(WireDecodingError) in try entryMessage.decode(from: &r, depth: depth + 1) }
                let kf = entry.fieldsByNumber[1], vf = entry.fieldsByNumber[2]
                let key = entryMessage.singular[1] ?? kf.map { DynamicMessage.zero($0, pool: type.pool) } ?? .string("")
                let value = entryMessage.singular[2] ?? vf.map { DynamicMessage.zero($0, pool: type.pool) } ?? .string("")
                maps[f.number, default: [:]][key] = value
                continue
            }
            if f.isRepeated {
                if wt == 2 && expected != 2 {
                var values = repeated[f.number] ?? []
                try r.readEmbedded { (r: inout WireReader) throws(WireDecodingError) in
                    while r.remaining > 0 { values.append(try readScalar(f, &r, depth: depth)) }
                }
                repeated[f.number] = values
                continue
                }
                guard wt == expected else { throw r.wrongWireType(tag) }
                repeated[f.number, default: []].append(try readScalar(f, &r, depth: depth))
                continue
            }
            guard wt == expected else { throw r.wrongWireType(tag) }
            let v = try readScalar(f, &r, depth: depth)
            clearOneof(of: f)
            if case .message(let incoming) = v, case .message(var existing)? = singular[f.number] {
                existing.merge(incoming)
                singular[f.number] = .message(existing)
            } else {
                singular[f.number] = v
            }
        }
    }

    /// Protobuf merge: scalars replace, repeated append, messages merge.
    mutating func merge(_ other: DynamicMessage) {
        for (n, v) in other.singular {
            if case .message(let inc) = v, case .message(var ex)? = singular[n] { ex.merge(inc); singular[n] = .message(ex) } else { singular[n] = v }
        }
        for (n, vs) in other.repeated { repeated[n, default: []] += vs }
        for (n, m) in other.maps { maps[n, default: [:]].merge(m) { $1 } }
        unknown += other.unknown
    }

    static func zero(_ f: FieldDescriptor, pool: DescriptorPool) -> DynamicValue {
        switch f.kind {
        case .double: return .double(0)
        case .float: return .float(0)
        case .int64, .sint64, .sfixed64, .int32, .sint32, .sfixed32: return .int(0)
        case .uint64, .fixed64, .uint32, .fixed32: return .uint(0)
        case .bool: return .bool(false)
        case .string: return .string("")
        case .bytes: return .bytes([])
        case .enumeration: return .enumNumber(0)
        case .message, .group: return .message(DynamicMessage(type: pool.message(f.typeName) ?? MessageType(name: "", descriptor: .init(), pool: pool)))
        }
    }

    static func isZero(_ v: DynamicValue) -> Bool {
        switch v {
        case .int(let x): return x == 0
        case .uint(let x): return x == 0
        case .double(let x): return x.bitPattern == 0
        case .float(let x): return x.bitPattern == 0
        case .bool(let x): return !x
        case .string(let x): return x.isEmpty
        case .bytes(let x): return x.isEmpty
        case .enumNumber(let x): return x == 0
        case .message: return false
        }
    }

    /// Whether a field keeps presence (written even at its default).
    func hasPresence(_ f: FieldDescriptor) -> Bool {
        f.kind == .message || f.proto3Optional || type.oneofIndex(f) != nil
    }

    public func serializedBytes(deterministic: Bool = true) -> [UInt8] {
        var w = WireWriter(options: .init(deterministic: deterministic))
        encode(to: &w)
        return w.bytes()
    }

    func writeScalar(_ f: FieldDescriptor, _ v: DynamicValue, _ w: inout WireWriter) {
        switch (f.kind, v) {
        case (.double, .double(let x)): w.writeDouble(x)
        case (.float, .float(let x)): w.writeFloat(x)
        case (.int64, .int(let x)): w.writeInt64(x)
        case (.sint64, .int(let x)): w.writeSInt64(x)
        case (.sfixed64, .int(let x)): w.writeSFixed64(x)
        case (.int32, .int(let x)): w.writeInt32(Int32(truncatingIfNeeded: x))
        case (.sint32, .int(let x)): w.writeSInt32(Int32(truncatingIfNeeded: x))
        case (.sfixed32, .int(let x)): w.writeSFixed32(Int32(truncatingIfNeeded: x))
        case (.uint64, .uint(let x)): w.writeUInt64(x)
        case (.fixed64, .uint(let x)): w.writeFixed64(x)
        case (.uint32, .uint(let x)): w.writeUInt32(UInt32(truncatingIfNeeded: x))
        case (.fixed32, .uint(let x)): w.writeFixed32(UInt32(truncatingIfNeeded: x))
        case (.bool, .bool(let x)): w.writeBool(x)
        case (.string, .string(let x)): w.writeString(x)
        case (.bytes, .bytes(let x)): w.writeBytes(x)
        case (.enumeration, .enumNumber(let x)): w.writeEnum(x)
        case (_, .message(let m)):
            let before = w.count
            m.encode(to: &w)
            w.writeVarint(UInt64(w.count - before))
        default: break
        }
    }

    func encode(to w: inout WireWriter) {
        w.writeUnknown(UnknownFields(bytes: unknown))
        for f in type.sortedFields.reversed() {
            let tag = UInt32(f.number) << 3
            if let entry = type.mapEntry(f), let m = maps[f.number], !m.isEmpty {
                let kf = entry.fieldsByNumber[1] ?? FieldDescriptor(), vf = entry.fieldsByNumber[2] ?? FieldDescriptor()
                let pairs = w.deterministic ? m.sorted { DynamicMessage.less($0.key, $1.key) }.reversed() : Array(m)
                for (k, v) in pairs {
                    let before = w.count
                    writeScalar(vf, v, &w); w.writeTag(16 | DynamicMessage.wireType(vf.kind))
                    writeScalar(kf, k, &w); w.writeTag(8 | DynamicMessage.wireType(kf.kind))
                    w.writeVarint(UInt64(w.count - before))
                    w.writeTag(tag | 2)
                }
            } else if f.isRepeated, let vs = repeated[f.number], !vs.isEmpty {
                let wt = DynamicMessage.wireType(f.kind)
                if wt != 2 && (f.packedOption ?? true) {
                    let before = w.count
                    for v in vs.reversed() { writeScalar(f, v, &w) }
                    w.writeVarint(UInt64(w.count - before))
                    w.writeTag(tag | 2)
                } else {
                    for v in vs.reversed() { writeScalar(f, v, &w); w.writeTag(tag | wt) }
                }
            } else if let v = singular[f.number], hasPresence(f) || !DynamicMessage.isZero(v) {
                writeScalar(f, v, &w)
                w.writeTag(tag | DynamicMessage.wireType(f.kind))
            }
        }
    }

    static func less(_ a: DynamicValue, _ b: DynamicValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y
        case (.uint(let x), .uint(let y)): return x < y
        case (.string(let x), .string(let y)): return x < y
        case (.bool(let x), .bool(let y)): return !x && y
        default: return false
        }
    }
}
