import ProtoWire

/// Message types of a descriptor set, resolved for the dynamic codec.
public final class DescriptorPool: @unchecked Sendable {
    // Immutable after init.
    private(set) var messages: [String: MessageType] = [:]
    private(set) var enums: [String: EnumDescriptor] = [:]

    public init(_ set: FileDescriptorSet) {
        for file in set.files {
            let prefix = file.package.isEmpty ? "" : file.package + "."
            for m in file.messages { add(m, prefix: prefix) }
            for e in file.enums { enums[prefix + e.name] = e }
        }
    }

    private func add(_ m: MessageDescriptor, prefix: String) {
        let name = prefix + m.name
        messages[name] = MessageType(name: name, descriptor: m, pool: self)
        for n in m.nested { add(n, prefix: name + ".") }
        for e in m.enums { enums[name + "." + e.name] = e }
    }

    /// Every message type (map entries excluded), sorted.
    public var messageNames: [String] { messages.values.filter { !$0.isMapEntry }.map(\.name).sorted() }

    public func message(_ fullName: String) -> MessageType? {
        messages[fullName.hasPrefix(".") ? String(fullName.dropFirst()) : fullName]
    }

    func enumeration(_ fullName: String) -> EnumDescriptor? {
        enums[fullName.hasPrefix(".") ? String(fullName.dropFirst()) : fullName]
    }
}

/// One message type: its fields by number and by JSON/proto name.
public final class MessageType: @unchecked Sendable {
    public let name: String
    let descriptor: MessageDescriptor
    unowned let pool: DescriptorPool
    let fieldsByNumber: [Int32: FieldDescriptor]
    let fieldsByName: [String: FieldDescriptor]
    let sortedFields: [FieldDescriptor]

    init(name: String, descriptor: MessageDescriptor, pool: DescriptorPool) {
        self.name = name
        self.descriptor = descriptor
        self.pool = pool
        var byNumber: [Int32: FieldDescriptor] = [:]
        var byName: [String: FieldDescriptor] = [:]
        for f in descriptor.fields {
            byNumber[f.number] = f
            byName[f.name] = f
            byName[f.jsonName ?? Naming.lowerCamel(_s: f.name)] = f
        }
        fieldsByNumber = byNumber
        fieldsByName = byName
        sortedFields = descriptor.fields.sorted { $0.number < $1.number }
    }

    var isMapEntry: Bool { descriptor.isMapEntry }

    func mapEntry(_ f: FieldDescriptor) -> MessageType? {
        guard f.isRepeated, f.kind == .message, let t = pool.message(f.typeName), t.isMapEntry else { return nil }
        return t
    }

    /// Members of a real (non-synthetic) oneof share an index; proto3 optional fields do not count.
    func oneofIndex(_ f: FieldDescriptor) -> Int32? { f.proto3Optional ? nil : f.oneofIndex }
}

/// A scalar, enum or message value of a dynamic message.
public indirect enum DynamicValue: Hashable, Sendable {
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case float(Float)
    case bool(Bool)
    case string(String)
    case bytes([UInt8])
    case enumNumber(Int32)
    case message(DynamicMessage)
}

/// A message whose shape comes from a descriptor at run time.
public struct DynamicMessage: Hashable, Sendable {
    public static func == (a: DynamicMessage, b: DynamicMessage) -> Bool {
        a.type.name == b.type.name && a.singular == b.singular && a.repeated == b.repeated && a.maps == b.maps && a.unknown == b.unknown
    }
    public func hash(into h: inout Hasher) { h.combine(type.name); h.combine(singular) }

    public let type: MessageType
    /// Set singular fields (implicit-presence fields only when not default).
    var singular: [Int32: DynamicValue] = [:]
    var repeated: [Int32: [DynamicValue]] = [:]
    /// Map fields: entries by key, in insertion order of first appearance.
    var maps: [Int32: [DynamicValue: DynamicValue]] = [:]
    var unknown: [UInt8] = []

    public init(type: MessageType) { self.type = type }

    mutating func clearOneof(of f: FieldDescriptor) {
        guard let o = type.oneofIndex(f) else { return }
        for other in type.descriptor.fields where type.oneofIndex(other) == o && other.number != f.number {
            singular[other.number] = nil
        }
    }
}

public enum DynamicCodecError: Error, CustomStringConvertible {
    case unknownType(String)
    case wire(WireDecodingError)
    case json(JSONDecodingError)
    case encode(String)
    public var description: String {
        switch self {
        case .unknownType(let t): return "unknown message type \(t)"
        case .wire(let e): return e.description
        case .json(let e): return e.description
        case .encode(let s): return s
        }
    }
}
