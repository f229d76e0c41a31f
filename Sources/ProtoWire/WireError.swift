/// Why binary decoding failed, and where: every error names the byte offset
/// (from the start of the outermost buffer) and, when known, the field number.
public struct WireDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The input ended inside a tag, a value or a length-delimited field.
        case truncated
        /// A varint with more than 10 bytes (or a tag with more than 5).
        case overlongVarint
        /// Wire types 6 and 7 do not exist.
        case invalidWireType(UInt8)
        /// Field number 0 is never valid on the wire.
        case zeroFieldNumber
        /// A `string` field that is not valid UTF-8.
        case invalidUTF8
        /// A known field arrived with a wire type its type cannot have.
        case wrongWireType(UInt8)
        /// More nested messages (or groups) than the limit allows.
        case depthLimitExceeded(Int)
        /// An end-group tag with no matching start group, or with another field number.
        case unmatchedEndGroup
        /// A length prefix that is negative or larger than the input.
        case invalidLength
    }

    public var kind: Kind
    public var offset: Int
    /// The field being read when the error happened (0 when not inside a field).
    public var fieldNumber: Int

    public init(_ kind: Kind, offset: Int, fieldNumber: Int = 0) {
        self.kind = kind
        self.offset = offset
        self.fieldNumber = fieldNumber
    }

    public var description: String {
        let what: String
        switch kind {
        case .truncated: what = "truncated input"
        case .overlongVarint: what = "varint longer than 10 bytes"
        case .invalidWireType(let t): what = "invalid wire type \(t)"
        case .zeroFieldNumber: what = "field number 0"
        case .invalidUTF8: what = "invalid UTF-8 in string field"
        case .wrongWireType(let t): what = "wrong wire type \(t) for known field"
        case .depthLimitExceeded(let limit): what = "nesting deeper than \(limit)"
        case .unmatchedEndGroup: what = "unmatched end-group tag"
        case .invalidLength: what = "invalid length prefix"
        }
        let field = fieldNumber > 0 ? " (field \(fieldNumber))" : ""
        return "binary decode error at byte \(offset)\(field): \(what)"
    }
}
