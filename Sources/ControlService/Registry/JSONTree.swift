import HTTPServer
import ProtoWire

/// A JSON document as a tree whose scalars keep the bytes they were written
/// with (an error code stays `-32600`, never `-32600.0`) and whose objects
/// keep their member order: for editing a generated document and serving it
/// with its bytes otherwise unchanged.
indirect enum JSONTree {
    case scalar([UInt8])
    case array([JSONTree])
    case object([(String, JSONTree)])

    static func parse(_ bytes: [UInt8]) -> JSONTree? {
        bytes.withUnsafeBytes { buf -> JSONTree? in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            return try? node(&r, bytes)
        }
    }

    private static func node(_ r: inout JSONReader, _ bytes: [UInt8]) throws(JSONDecodingError) -> JSONTree {
        switch r.peek() {
        case UInt8(ascii: "{"):
            var members: [(String, JSONTree)] = []
            try r.readObject { (r: inout JSONReader, key: String) throws(JSONDecodingError) in members.append((key, try node(&r, bytes))) }
            return .object(members)
        case UInt8(ascii: "["):
            var items: [JSONTree] = []
            try r.readArrayAllowingNull { (r: inout JSONReader) throws(JSONDecodingError) in items.append(try node(&r, bytes)) }
            return .array(items)
        default:
            let start = r.position
            try r.skipValue()
            return .scalar(Array(bytes[start..<r.position]))
        }
    }

    static func string(_ s: String) -> JSONTree { .scalar(Array(jsonQuote(s).utf8)) }
    static func strings(_ list: [String]) -> JSONTree { .array(list.map(string)) }

    subscript(key: String) -> JSONTree? {
        get {
            guard case .object(let members) = self else { return nil }
            return members.last { $0.0 == key }?.1
        }
        set {
            guard case .object(var members) = self, let newValue else { return }
            if let i = members.lastIndex(where: { $0.0 == key }) { members[i].1 = newValue } else { members.append((key, newValue)) }
            self = .object(members)
        }
    }

    /// A scalar string's text.
    var text: String? {
        guard case .scalar(let b) = self, b.first == 0x22 else { return nil }
        return b.withUnsafeBytes { buf in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            return try? r.readString()
        }
    }

    /// Compact JSON.
    func render() -> [UInt8] {
        switch self {
        case .scalar(let b): return b
        case .array(let items):
            var out: [UInt8] = [UInt8(ascii: "[")]
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out += item.render()
            }
            return out + [UInt8(ascii: "]")]
        case .object(let members):
            var out: [UInt8] = [UInt8(ascii: "{")]
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out += Array(jsonQuote(m.0).utf8) + [UInt8(ascii: ":")] + m.1.render()
            }
            return out + [UInt8(ascii: "}")]
        }
    }
}
