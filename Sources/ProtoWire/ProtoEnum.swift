/// A generated proto3 enum: open, so numbers the contract does not declare
/// are kept (`.unrecognized(n)`) and written back unchanged.
public protocol ProtoEnum: Hashable, Sendable {
    init(rawValue: Int32)
    var rawValue: Int32 { get }
    /// Declared values and their proto names, in declaration order (aliases excluded).
    static var protoNames: [(Self, String)] { get }
    /// Alias names (`allow_alias`), accepted on JSON input.
    static var protoAliases: [(Self, String)] { get }
    /// The proto name of this value, nil for an unrecognized number.
    var protoName: String? { get }
    /// Values with a word of their own for REST bodies (`(openagents.api.v1.wire_word)`).
    static var wireWords: [(Self, String)] { get }
}

extension ProtoEnum {
    public static var protoAliases: [(Self, String)] { [] }
    public static var wireWords: [(Self, String)] { [] }
    /// The wire word of this value, when the contract declares one.
    public var wireWord: String? {
        for (v, w) in Self.wireWords where v == self { return w }
        return nil
    }
}

/// Heap storage for a message field that closes a cycle of singular message
/// fields (a message cannot contain itself inline). Immutable, so sharing it
/// keeps value semantics: a write replaces the box.
public final class ProtoBox<Value: ProtoMessage>: Hashable, Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
    public static func == (a: ProtoBox, b: ProtoBox) -> Bool { a === b || a.value == b.value }
    public func hash(into h: inout Hasher) { value.hash(into: &h) }
}
