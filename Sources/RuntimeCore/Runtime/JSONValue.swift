import Generated
import ProtoWire

/// Building and reading free-form JSON payloads (`google.protobuf.Value`).
public enum JSONValue {
    public typealias Value = GoogleProtobuf.Value

    public static func value(_ kind: Value.Kind) -> Value {
        var v = Value()
        v.kind = kind
        return v
    }
    public static let null = value(.nullValue(.nullValue))
    public static func string(_ s: String) -> Value { value(.stringValue(s)) }
    public static func number(_ d: Double) -> Value { value(.numberValue(d)) }
    public static func number<I: BinaryInteger>(_ i: I) -> Value { value(.numberValue(Double(i))) }
    public static func bool(_ b: Bool) -> Value { value(.boolValue(b)) }
    public static func array(_ items: [Value]) -> Value {
        var l = GoogleProtobuf.ListValue()
        l.values = items
        return value(.listValue(l))
    }
    public static func object(_ fields: [String: Value]) -> Value {
        var s = GoogleProtobuf.Struct()
        s.fields = fields
        return value(.structValue(s))
    }
    /// A string, or null when nil.
    public static func stringOrNull(_ s: String?) -> Value { s.map(string) ?? null }

    // MARK: Reading

    public static func fields(_ v: Value?) -> [String: Value]? {
        if case .structValue(let s)? = v?.kind { return s.fields }
        return nil
    }
    public static func field(_ v: Value?, _ key: String) -> Value? { fields(v)?[key] }
    public static func stringField(_ v: Value?, _ key: String) -> String? {
        if case .stringValue(let s)? = field(v, key)?.kind { return s }
        return nil
    }
    public static func numberField(_ v: Value?, _ key: String) -> Double? {
        if case .numberValue(let d)? = field(v, key)?.kind { return d }
        return nil
    }
    /// A non-negative whole number field.
    public static func unsignedField(_ v: Value?, _ key: String) -> UInt64? {
        guard let d = numberField(v, key), d >= 0, d < 18_446_744_073_709_551_616, d == d.rounded() else { return nil }
        return UInt64(d)
    }
    public static func integerField(_ v: Value?, _ key: String) -> Int64? {
        guard let d = numberField(v, key), d >= -9_223_372_036_854_775_808, d < 9_223_372_036_854_775_808, d == d.rounded() else { return nil }
        return Int64(d)
    }
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes at every depth,
/// no whitespace, whole numbers without a fraction, strings escaped as
/// serde_json does. Hashes over artifacts are taken over these bytes.
public enum CanonicalJSON {
    /// `sha256:<hex>` of a message's canonical JSON (keys sorted, so the same content always hashes the same).
    public static func hash<M: ProtoMessage>(_ message: M) -> String { prefixedHash(tree(message)) }

    static func bytes(_ v: GoogleProtobuf.Value) -> [UInt8] {
        var w = JSONWriter(capacity: 256, options: JSONEncodingOptions(int64AsNumbers: true))
        write(v, to: &w)
        return (try? w.finish()) ?? []
    }

    /// `sha256:<hex>` of the canonical bytes.
    static func prefixedHash(_ v: GoogleProtobuf.Value) -> String { "sha256:" + SHA256.hex(bytes(v)) }

    /// A generated message as a canonical JSON tree (proto3 JSON with every
    /// field present, 64-bit integers as numbers).
    static func tree<M: ProtoMessage>(_ message: M) -> GoogleProtobuf.Value {
        let json = (try? message.jsonBytes(options: JSONEncodingOptions(emitDefaultValues: true, int64AsNumbers: true))) ?? []
        return (try? GoogleProtobuf.Value(jsonBytes: json)) ?? JSONValue.null
    }

    private static func write(_ v: GoogleProtobuf.Value, to w: inout JSONWriter) {
        switch v.kind {
        case .nullValue?, nil: w.writeNull()
        case .boolValue(let b)?: w.writeBool(b)
        case .stringValue(let s)?: w.writeString(s)
        case .numberValue(let d)?:
            if d == d.rounded(), abs(d) < 9_007_199_254_740_992 { w.writeInt64(Int64(d)) } else { w.writeDouble(d) }
        case .listValue(let l)?:
            w.beginArray()
            for item in l.values { write(item, to: &w) }
            w.endArray()
        case .structValue(let s)?:
            w.beginObject()
            for key in s.fields.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                w.key(key)
                if let item = s.fields[key] { write(item, to: &w) }
            }
            w.endObject()
        }
    }
}
