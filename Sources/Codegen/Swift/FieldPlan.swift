// How one proto field is stored and coded in Swift, derived once from its
// descriptor and then read by the emitter.

struct ScalarInfo {
    let swiftType: String
    let read: String       // WireReader method
    let write: String      // WireWriter method
    let wireType: UInt32
    let zero: String       // Swift default literal
    let packable: Bool

    /// The test for "not the default value" (implicit presence).
    func nonDefault(_ x: String) -> String {
        switch swiftType {
        case "Double", "Float": return "\(x).bitPattern != 0"  // -0.0 is written, as C++ and Go do
        case "Bool": return x
        case "String", "[UInt8]": return "!\(x).isEmpty"
        default: return "\(x) != 0"
        }
    }

    static func of(_ kind: FieldDescriptor.Kind) -> ScalarInfo? {
        switch kind {
        case .double: return .init(swiftType: "Double", read: "readDouble", write: "writeDouble", wireType: 1, zero: "0", packable: true)
        case .float: return .init(swiftType: "Float", read: "readFloat", write: "writeFloat", wireType: 5, zero: "0", packable: true)
        case .int64: return .init(swiftType: "Int64", read: "readInt64", write: "writeInt64", wireType: 0, zero: "0", packable: true)
        case .uint64: return .init(swiftType: "UInt64", read: "readUInt64", write: "writeUInt64", wireType: 0, zero: "0", packable: true)
        case .int32: return .init(swiftType: "Int32", read: "readInt32", write: "writeInt32", wireType: 0, zero: "0", packable: true)
        case .fixed64: return .init(swiftType: "UInt64", read: "readFixed64", write: "writeFixed64", wireType: 1, zero: "0", packable: true)
        case .fixed32: return .init(swiftType: "UInt32", read: "readFixed32", write: "writeFixed32", wireType: 5, zero: "0", packable: true)
        case .bool: return .init(swiftType: "Bool", read: "readBool", write: "writeBool", wireType: 0, zero: "false", packable: true)
        case .string: return .init(swiftType: "String", read: "readString", write: "writeString", wireType: 2, zero: "\"\"", packable: false)
        case .bytes: return .init(swiftType: "[UInt8]", read: "readBytes", write: "writeBytes", wireType: 2, zero: "[]", packable: false)
        case .uint32: return .init(swiftType: "UInt32", read: "readUInt32", write: "writeUInt32", wireType: 0, zero: "0", packable: true)
        case .sfixed32: return .init(swiftType: "Int32", read: "readSFixed32", write: "writeSFixed32", wireType: 5, zero: "0", packable: true)
        case .sfixed64: return .init(swiftType: "Int64", read: "readSFixed64", write: "writeSFixed64", wireType: 1, zero: "0", packable: true)
        case .sint32: return .init(swiftType: "Int32", read: "readSInt32", write: "writeSInt32", wireType: 0, zero: "0", packable: true)
        case .sint64: return .init(swiftType: "Int64", read: "readSInt64", write: "writeSInt64", wireType: 0, zero: "0", packable: true)
        case .enumeration, .message, .group: return nil
        }
    }
}

/// The value part of a field: what one element is, independent of cardinality.
enum ValueKind {
    case scalar(ScalarInfo)
    case enumeration(String)
    case message(String)

    var swiftType: String {
        switch self {
        case .scalar(let s): return s.swiftType
        case .enumeration(let t), .message(let t): return t
        }
    }
    var wireType: UInt32 {
        switch self {
        case .scalar(let s): return s.wireType
        case .enumeration: return 0
        case .message: return 2
        }
    }
    var packable: Bool {
        switch self {
        case .scalar(let s): return s.packable
        case .enumeration: return true
        case .message: return false
        }
    }
    /// Swift expression reading one value.
    var readExpr: String {
        switch self {
        case .scalar(let s): return "try r.\(s.read)()"
        case .enumeration(let t): return "\(t)(rawValue: try r.readEnum())"
        case .message: return ""
        }
    }
    /// Swift statement writing one value `x` (without tag).
    func writeStmt(_ x: String, writer w: String = "w") -> String {
        switch self {
        case .scalar(let s): return "\(w).\(s.write)(\(x))"
        case .enumeration: return "\(w).writeEnum(\(x).rawValue)"
        case .message: return "\(w).writeMessage(\(x))"
        }
    }
    func defaultExpr(enumZero: (String) -> String) -> String {
        switch self {
        case .scalar(let s): return s.zero
        case .enumeration(let t): return enumZero(t)
        case .message(let t): return "\(t)()"
        }
    }
}

struct FieldPlan {
    enum Shape {
        case singular            // proto3 implicit presence
        case optional            // message field or proto3 `optional`: Swift Optional
        case repeated(packed: Bool)
        case map(key: ValueKind, value: ValueKind)
        case oneofMember(oneof: Int)
    }
    let descriptor: FieldDescriptor
    let name: String
    let value: ValueKind
    let shape: Shape
    let boxed: Bool

    var number: UInt32 { UInt32(descriptor.number) }
    func tag(_ wireType: UInt32) -> UInt32 { number << 3 | wireType }
    /// The tag as written: map entries are always length-delimited.
    var tag: UInt32 {
        if case .map = shape { return tag(2) }
        return tag(value.wireType)
    }
}
