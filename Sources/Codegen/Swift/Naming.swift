// How protobuf names become Swift names. The scheme (documented in README):
// - a package becomes one namespace enum: its components in PascalCase, joined,
//   minus a configured prefix: `openagents.runtime.v1` -> `RuntimeV1`,
//   `google.protobuf` -> `GoogleProtobuf`, `bench.v1` -> `BenchV1`;
// - messages and enums keep their proto names, nested types nest:
//   `RuntimeV1.RuntimeRunEvent`, `SyncV1.Error`;
// - fields are lowerCamelCase of the proto name (`run_id` -> `runId`);
// - enum values drop the enum's UPPER_SNAKE prefix and become lowerCamelCase
//   (`RUNTIME_RUN_STATUS_CREATED` -> `.created`);
// - oneofs become a nested enum named after the oneof (`payload` -> `Payload`).
// Swift keywords are escaped with backticks; names that would shadow a Swift
// type used by generated code get a trailing underscore.

enum Naming {
    static let swiftKeywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init", "inout",
        "internal", "let", "open", "operator", "private", "precedencegroup", "protocol", "public", "rethrows", "static",
        "struct", "subscript", "typealias", "var", "break", "case", "catch", "continue", "default", "defer", "do",
        "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "throw", "switch", "where", "while",
        "Any", "as", "await", "false", "is", "nil", "self", "Self", "super", "throws", "true", "try", "_",
    ]
    /// Type names generated code refers to unqualified; a proto type with one of these names is suffixed.
    static let reservedTypeNames: Set<String> = [
        "String", "Bool", "Int32", "Int64", "UInt32", "UInt64", "Float", "Double", "Array", "Dictionary",
        "Optional", "Type", "Protocol", "Self", "Any", "ProtoMessage", "ProtoEnum", "WireReader", "WireWriter",
        "UnknownFields", "WireDecodingError", "ProtoBox", "Swift",
    ]
    /// Member names the message protocol itself uses.
    static let reservedMemberNames: Set<String> = [
        "unknownFields", "protoMessageName", "decodeMessage", "encodeMessage", "serializedBytes", "hashValue",
        "self", "Self", "init", "deinit", "Type", "Protocol",
    ]

    static func pascal(_ s: String) -> String {
        var out = ""
        var upperNext = true
        for ch in s {
            if ch == "_" || ch == "." || ch == "-" { upperNext = true; continue }
            if upperNext { out += ch.uppercased(); upperNext = false } else { out.append(ch) }
        }
        return out
    }

    /// protoc's json_name algorithm: drop underscores, upper-case the letter after one.
    static func lowerCamel(_s s: String) -> String {
        var out = ""
        var upperNext = false
        for ch in s {
            if ch == "_" { upperNext = true; continue }
            if upperNext { out += ch.uppercased(); upperNext = false } else { out.append(ch) }
        }
        return out
    }

    static func namespace(forPackage package: String, stripping prefixes: [String]) -> String {
        var parts = package.split(separator: ".").map(String.init)
        for prefix in prefixes {
            let p = prefix.split(separator: ".").map(String.init)
            if parts.count > p.count, Array(parts.prefix(p.count)) == p { parts.removeFirst(p.count); break }
        }
        return parts.map { pascal($0) }.joined()
    }

    static func typeName(_ proto: String) -> String {
        reservedTypeNames.contains(proto) ? proto + "_" : proto
    }

    static func fieldName(_ proto: String) -> String {
        var name = lowerCamel(_s: proto)
        if let first = name.first, first.isUppercase { name = first.lowercased() + name.dropFirst() }
        if reservedMemberNames.contains(name) { name += "_" }
        return escaped(name)
    }

    static func escaped(_ name: String) -> String {
        swiftKeywords.contains(name) ? "`\(name)`" : name
    }

    /// Enum case names: strip the shared `ENUM_NAME_` prefix, then lowerCamelCase.
    static func enumCaseNames(enumName: String, values: [String]) -> [String] {
        let prefix = upperSnake(enumName) + "_"
        let canStrip = values.allSatisfy { v in
            v.hasPrefix(prefix) && v.count > prefix.count && !(v.dropFirst(prefix.count).first?.isNumber ?? true)
        }
        return values.map { v in
            let base = canStrip ? String(v.dropFirst(prefix.count)) : v
            var name = lowerCamel(_s: base.lowercased())
            if name == "unrecognized" || name == "rawValue" || name == "allKnownCases" { name += "_" }
            if let f = name.first, f.isNumber { name = "_" + name }
            return escaped(name)
        }
    }

    /// `RuntimeRunStatus` -> `RUNTIME_RUN_STATUS` (buf's algorithm for ENUM_VALUE_PREFIX).
    static func upperSnake(_ s: String) -> String {
        var out = ""
        let chars = Array(s)
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let prev = chars[i - 1]
                let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if prev.isLowercase || prev.isNumber || (prev.isUppercase && nextIsLower) { out += "_" }
            }
            out += c.uppercased()
        }
        return out
    }
}

extension Naming {
    /// A Swift string literal for any text (quotes, backslashes, control characters escaped).
    static func stringLiteral(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
