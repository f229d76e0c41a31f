import ProtoWire

// The subset of google/protobuf/descriptor.proto the generator, the linter and
// the breaking-change checker read, decoded by hand with our own wire reader
// (the generator cannot depend on code it generates). Field numbers are the
// ones in descriptor.proto. Options are kept as raw bytes and read on demand.

public struct FileDescriptorSet: WireDecodable, Sendable {
    public var files: [FileDescriptor] = []
    public init() {}
    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            if tag == 10 { var f = FileDescriptor(); try r.readMessage(into: &f); files.append(f) } else { try r.skipField(tag) }
        }
    }
}

/// Options messages kept as raw wire bytes; typed accessors read one field.
public struct RawOptions: Sendable, Hashable {
    public var bytes: [UInt8] = []
    public init() {}

    /// The last varint value of `field`, if present.
    public func varint(_ field: UInt32) -> UInt64? {
        var found: UInt64?
        each { (tag, r) throws(WireDecodingError) in if tag == field << 3 { found = try r.readVarint(); return true }; return false }
        return found
    }
    public func bool(_ field: UInt32) -> Bool? { varint(field).map { $0 != 0 } }
    public func string(_ field: UInt32) -> String? {
        var found: String?
        each { (tag, r) throws(WireDecodingError) in if tag == field << 3 | 2 { found = try r.readString(); return true }; return false }
        return found
    }
    /// Every field number set, in order of appearance (custom options show up here).
    public var fieldNumbers: Set<UInt32> {
        var found: Set<UInt32> = []
        each { (tag, _) throws(WireDecodingError) in found.insert(tag >> 3); return false }
        return found
    }

    /// Whether any field with this number is set (any wire type).
    public func has(_ field: UInt32) -> Bool {
        var found = false
        each { (tag, _) throws(WireDecodingError) in if tag >> 3 == field { found = true }; return false }
        return found
    }

    private func each(_ body: (UInt32, inout WireReader) throws(WireDecodingError) -> Bool) {
        bytes.withUnsafeBytes { buf in
            var r = WireReader(buf)
            do {
                while let tag = try r.nextTag() {
                    if try !body(tag, &r) { try r.skipField(tag) }
                }
            } catch {}
        }
    }
}

extension WireReader {
    mutating func readRawOptions() throws(WireDecodingError) -> RawOptions {
        var o = RawOptions()
        o.bytes = try readBytes()
        return o
    }
    mutating func readRange() throws(WireDecodingError) -> ClosedRangeSpec {
        var spec = ClosedRangeSpec()
        try readMessage(into: &spec)
        return spec
    }
}

/// A reserved or extension range as descriptor.proto stores it: start inclusive, end exclusive.
public struct ClosedRangeSpec: WireDecodable, Sendable, Hashable {
    public var start: Int32 = 0
    public var end: Int32 = 0
    public init() {}
    public init(start: Int32, end: Int32) { self.start = start; self.end = end }
    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 8: start = try r.readInt32()
            case 16: end = try r.readInt32()
            default: try r.skipField(tag)
            }
        }
    }
}

public struct FileDescriptor: WireDecodable, Sendable {
    public var name = ""
    public var package = ""
    public var dependencies: [String] = []
    public var publicDependencies: [Int32] = []
    public var weakDependencies: [Int32] = []
    public var messages: [MessageDescriptor] = []
    public var enums: [EnumDescriptor] = []
    public var services: [ServiceDescriptor] = []
    public var extensions: [FieldDescriptor] = []
    public var options = RawOptions()
    public var locations: [SourceLocation] = []
    public var syntax = ""
    public init() {}

    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 10: name = try r.readString()
            case 18: package = try r.readString()
            case 26: dependencies.append(try r.readString())
            case 34: var m = MessageDescriptor(); try r.readMessage(into: &m); messages.append(m)
            case 42: var e = EnumDescriptor(); try r.readMessage(into: &e); enums.append(e)
            case 50: var s = ServiceDescriptor(); try r.readMessage(into: &s); services.append(s)
            case 58: var f = FieldDescriptor(); try r.readMessage(into: &f); extensions.append(f)
            case 66: options = try r.readRawOptions()
            case 74: var info = SourceCodeInfo(); try r.readMessage(into: &info); locations = info.locations
            case 80: publicDependencies.append(try r.readInt32())
            case 82: try r.readPacked(into: &publicDependencies) { r throws(WireDecodingError) in try r.readInt32() }
            case 88: weakDependencies.append(try r.readInt32())
            case 90: try r.readPacked(into: &weakDependencies) { r throws(WireDecodingError) in try r.readInt32() }
            case 98: syntax = try r.readString()
            default: try r.skipField(tag)
            }
        }
    }
}

public struct MessageDescriptor: WireDecodable, Sendable {
    public var name = ""
    public var fields: [FieldDescriptor] = []
    public var nested: [MessageDescriptor] = []
    public var enums: [EnumDescriptor] = []
    public var extensionRanges: [ClosedRangeSpec] = []
    public var extensions: [FieldDescriptor] = []
    public var options = RawOptions()
    public var oneofs: [OneofDescriptor] = []
    public var reservedRanges: [ClosedRangeSpec] = []
    public var reservedNames: [String] = []
    public init() {}

    /// `option map_entry = true` marks the synthetic entry type of a map field.
    public var isMapEntry: Bool { options.bool(7) ?? false }

    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 10: name = try r.readString()
            case 18: var f = FieldDescriptor(); try r.readMessage(into: &f); fields.append(f)
            case 26: var m = MessageDescriptor(); try r.readMessage(into: &m); nested.append(m)
            case 34: var e = EnumDescriptor(); try r.readMessage(into: &e); enums.append(e)
            case 42: extensionRanges.append(try r.readRange())
            case 50: var f = FieldDescriptor(); try r.readMessage(into: &f); extensions.append(f)
            case 58: options = try r.readRawOptions()
            case 66: var o = OneofDescriptor(); try r.readMessage(into: &o); oneofs.append(o)
            case 74: reservedRanges.append(try r.readRange())
            case 82: reservedNames.append(try r.readString())
            default: try r.skipField(tag)
            }
        }
    }
}

public struct FieldDescriptor: WireDecodable, Sendable {
    public enum Label: Int32, Sendable { case optional = 1, required = 2, repeated = 3 }
    public enum Kind: Int32, Sendable {
        case double = 1, float, int64, uint64, int32, fixed64, fixed32, bool, string, group, message, bytes, uint32, enumeration, sfixed32, sfixed64, sint32, sint64
    }
    public var name = ""
    public var extendee = ""
    public var number: Int32 = 0
    public var label: Label = .optional
    public var kind: Kind = .double
    public var typeName = ""
    public var defaultValue: String?
    public var options = RawOptions()
    public var oneofIndex: Int32?
    public var jsonName: String?
    public var proto3Optional = false
    public init() {}

    public var isRepeated: Bool { label == .repeated }
    /// `[packed = …]` when given explicitly.
    public var packedOption: Bool? { options.bool(2) }
    public var jsType: Int32? { options.varint(6).map { Int32(truncatingIfNeeded: $0) } }
    public var cType: Int32? { options.varint(1).map { Int32(truncatingIfNeeded: $0) } }

    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 10: name = try r.readString()
            case 18: extendee = try r.readString()
            case 24: number = try r.readInt32()
            case 32: label = Label(rawValue: try r.readInt32()) ?? .optional
            case 40: kind = Kind(rawValue: try r.readInt32()) ?? .double
            case 50: typeName = try r.readString()
            case 58: defaultValue = try r.readString()
            case 66: options = try r.readRawOptions()
            case 72: oneofIndex = try r.readInt32()
            case 82: jsonName = try r.readString()
            case 136: proto3Optional = try r.readBool()
            default: try r.skipField(tag)
            }
        }
    }
}

public struct OneofDescriptor: WireDecodable, Sendable {
    public var name = ""
    public var options = RawOptions()
    public init() {}
    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 10: name = try r.readString()
            case 18: options = try r.readRawOptions()
            default: try r.skipField(tag)
            }
        }
    }
}

public struct EnumDescriptor: WireDecodable, Sendable {
    public var name = ""
    public var values: [EnumValueDescriptor] = []
    public var options = RawOptions()
    public var reservedRanges: [ClosedRangeSpec] = []  // end is inclusive for enums
    public var reservedNames: [String] = []
    public init() {}
    public var allowAlias: Bool { options.bool(2) ?? false }

    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 10: name = try r.readString()
            case 18: var v = EnumValueDescriptor(); try r.readMessage(into: &v); values.append(v)
            case 26: options = try r.readRawOptions()
            case 34: reservedRanges.append(try r.readRange())
            case 42: reservedNames.append(try r.readString())
            default: try r.skipField(tag)
            }
        }
    }
}

public struct EnumValueDescriptor: WireDecodable, Sendable {
    public var name = ""
    public var number: Int32 = 0
    public var options = RawOptions()
    public init() {}
    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 10: name = try r.readString()
            case 16: number = try r.readInt32()
            case 26: options = try r.readRawOptions()
            default: try r.skipField(tag)
            }
        }
    }
}

public struct ServiceDescriptor: WireDecodable, Sendable {
    public var name = ""
    public var methods: [MethodDescriptor] = []
    public var options = RawOptions()
    public init() {}
    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 10: name = try r.readString()
            case 18: var m = MethodDescriptor(); try r.readMessage(into: &m); methods.append(m)
            case 26: options = try r.readRawOptions()
            default: try r.skipField(tag)
            }
        }
    }
}

public struct MethodDescriptor: WireDecodable, Sendable {
    public var name = ""
    public var inputType = ""
    public var outputType = ""
    public var options = RawOptions()
    public var clientStreaming = false
    public var serverStreaming = false
    public init() {}
    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 10: name = try r.readString()
            case 18: inputType = try r.readString()
            case 26: outputType = try r.readString()
            case 34: options = try r.readRawOptions()
            case 40: clientStreaming = try r.readBool()
            case 48: serverStreaming = try r.readBool()
            default: try r.skipField(tag)
            }
        }
    }
}

/// One `SourceCodeInfo.Location`: a path into the descriptor and its comments.
public struct SourceLocation: WireDecodable, Sendable {
    public var path: [Int32] = []
    public var span: [Int32] = []
    public var leadingComments: String?
    public var trailingComments: String?
    public var leadingDetached: [String] = []
    public init() {}
    public mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            switch tag {
            case 8: path.append(try r.readInt32())
            case 10: try r.readPacked(into: &path) { r throws(WireDecodingError) in try r.readInt32() }
            case 16: span.append(try r.readInt32())
            case 18: try r.readPacked(into: &span) { r throws(WireDecodingError) in try r.readInt32() }
            case 26: leadingComments = try r.readString()
            case 34: trailingComments = try r.readString()
            case 50: leadingDetached.append(try r.readString())
            default: try r.skipField(tag)
            }
        }
    }
}

struct SourceCodeInfo: WireDecodable {
    var locations: [SourceLocation] = []
    mutating func decodeMessage(from r: inout WireReader) throws(WireDecodingError) {
        while let tag = try r.nextTag() {
            if tag == 10 { var l = SourceLocation(); try r.readMessage(into: &l); locations.append(l) } else { try r.skipField(tag) }
        }
    }
}
