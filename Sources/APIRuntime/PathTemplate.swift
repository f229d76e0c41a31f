/// A google.api.http path template, parsed once: `/v1/{name=shelves/*}/books:get`.
///
/// Grammar (http.proto): `Template = "/" Segments [ Verb ]`, a segment is `*`,
/// `**`, a literal or `{field.path[=Segments]}`. A variable without a pattern
/// matches one segment. `**` matches the rest of the path and may only be last.
/// Matching percent-decodes variables the way http.proto specifies: a variable
/// of one segment decodes everything (`%2F` becomes `/`), a multi-segment
/// variable keeps reserved characters (`%2F`, `%3F`, ...) encoded.
public struct PathTemplate: Sendable, Hashable, CustomStringConvertible {
    public enum Segment: Sendable, Hashable {
        case literal(String)
        /// `*`: one segment.
        case wildcard
        /// `**`: every remaining segment (zero or more).
        case rest
    }

    /// A variable and the segments it covers.
    public struct Variable: Sendable, Hashable {
        public var fieldPath: String
        /// Index of its first segment in `segments`.
        public var start: Int
        /// Segments it covers; `Int.max` when it ends with `**`.
        public var count: Int
        /// Whether it covers more than one segment (reserved expansion).
        public var multiSegment: Bool
    }

    public let source: String
    public let segments: [Segment]
    public let variables: [Variable]
    public let verb: String?

    public var description: String { source }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var template: String
        public var message: String
        public var description: String { "path template \"\(template)\": \(message)" }
    }

    public init(_ template: String) throws(ParseError) {
        source = template
        func fail(_ m: String) -> ParseError { ParseError(template: template, message: m) }
        guard template.hasPrefix("/") else { throw fail("must start with /") }
        var body = Substring(template.dropFirst())
        var verb: String?
        // The verb is a final ":LITERAL" outside any braces.
        var depth = 0
        var verbStart: Substring.Index?
        for i in body.indices {
            switch body[i] {
            case "{": depth += 1
            case "}": depth -= 1
            case ":" where depth == 0: verbStart = i
            default: break
            }
        }
        if let v = verbStart {
            let text = String(body[body.index(after: v)...])
            guard !text.isEmpty, !text.contains("/") else { throw fail("empty or malformed :verb") }
            verb = text
            body = body[..<v]
        }
        var segments: [Segment] = []
        var variables: [Variable] = []
        var names: Set<String> = []
        var rest = body
        func literalOK(_ s: Substring) -> Bool {
            !s.isEmpty && s.allSatisfy { c in c.isASCII && (c.isLetter || c.isNumber || "-._~%!$&'()+,;@".contains(c)) }
        }
        func parseSegments(_ text: Substring, inVariable: Bool) throws(ParseError) -> [Segment] {
            var out: [Segment] = []
            for part in text.split(separator: "/", omittingEmptySubsequences: false) {
                switch part {
                case "*": out.append(.wildcard)
                case "**": out.append(.rest)
                default:
                    guard literalOK(part) else { throw fail("segment \"\(part)\" is not a literal, * or **") }
                    out.append(.literal(String(part)))
                }
            }
            return out
        }
        while !rest.isEmpty {
            if rest.first == "{" {
                guard let close = rest.firstIndex(of: "}") else { throw fail("unclosed {") }
                let inner = rest[rest.index(after: rest.startIndex)..<close]
                let eq = inner.firstIndex(of: "=")
                let name = String(eq.map { inner[..<$0] } ?? inner)
                guard !name.isEmpty, name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ p in
                    !p.isEmpty && p.first.map { $0.isLetter || $0 == "_" } == true && p.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
                }) else { throw fail("variable name \"\(name)\" is not a field path") }
                guard names.insert(name).inserted else { throw fail("variable \(name) appears twice") }
                let pattern: [Segment]
                if let eq {
                    let p = inner[inner.index(after: eq)...]
                    guard !p.isEmpty, !p.contains("{") else { throw fail("variable \(name) has an empty or nested pattern") }
                    pattern = try parseSegments(p, inVariable: true)
                } else {
                    pattern = [.wildcard]
                }
                let multi = pattern.count > 1 || pattern.contains(.rest)
                variables.append(Variable(fieldPath: name, start: segments.count, count: pattern.contains(.rest) ? Int.max : pattern.count, multiSegment: multi))
                segments += pattern
                rest = rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(of: "/") ?? rest.endIndex
                let part = rest[..<end]
                guard !part.contains("{"), !part.contains("}") else { throw fail("a variable must be a whole segment") }
                segments += try parseSegments(part, inVariable: false)
                rest = rest[end...]
            }
            if rest.first == "/" {
                rest = rest.dropFirst()
                if rest.isEmpty { throw fail("trailing /") }
            } else if !rest.isEmpty {
                throw fail("a variable must be a whole segment")
            }
        }
        if segments.isEmpty && !body.isEmpty { throw fail("empty path") }
        if let i = segments.firstIndex(of: .rest), i != segments.count - 1 { throw fail("** must be the last segment") }
        self.segments = segments
        self.variables = variables
        self.verb = verb
    }

    /// The variables' decoded values when `path` (without query) matches.
    public func match(_ path: Substring) -> [String: String]? {
        guard path.first == "/" else { return nil }
        return match(segments: Array(path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)))
    }

    /// The same, for a path already split at `/` (without the leading empty part).
    public func match(segments given: [Substring]) -> [String: String]? {
        var parts = given
        if let verb {
            guard let last = parts.last, last.hasSuffix(":" + verb) else { return nil }
            parts[parts.count - 1] = last.dropLast(verb.utf8.count + 1)
        }
        if parts.count == 1 && parts[0].isEmpty { return segments.isEmpty ? [:] : nil }
        let endsWithRest = segments.last == .rest
        if endsWithRest { guard parts.count >= segments.count - 1 else { return nil } } else { guard parts.count == segments.count else { return nil } }
        for (i, s) in segments.enumerated() {
            switch s {
            case .literal(let l): guard i < parts.count, parts[i] == l else { return nil }
            case .wildcard: guard i < parts.count, !parts[i].isEmpty else { return nil }
            case .rest: break
            }
        }
        var values: [String: String] = [:]
        for v in variables {
            let end = v.count == Int.max ? parts.count : v.start + v.count
            let covered = parts[v.start..<end]
            if v.multiSegment {
                values[v.fieldPath] = covered.map { PercentEncoding.decode($0, keepReserved: true) }.joined(separator: "/")
            } else {
                values[v.fieldPath] = PercentEncoding.decode(covered.first ?? "", keepReserved: false)
            }
        }
        return values
    }

    /// The path for these variable values (client side): single-segment values
    /// are fully percent-encoded, multi-segment ones keep their slashes.
    public func expand(_ values: [String: String]) -> String {
        var out = ""
        var i = 0
        while i < segments.count {
            if let v = variables.first(where: { $0.start == i }) {
                let value = values[v.fieldPath] ?? ""
                out += "/" + (v.multiSegment ? value.split(separator: "/", omittingEmptySubsequences: false).map { PercentEncoding.encode(String($0)) }.joined(separator: "/") : PercentEncoding.encode(value))
                i = v.count == Int.max ? segments.count : i + v.count
                continue
            }
            switch segments[i] {
            case .literal(let l): out += "/" + l
            case .wildcard, .rest: out += "/"
            }
            i += 1
        }
        if out.isEmpty { out = "/" }
        if let verb { out += ":" + verb }
        return out
    }

    /// Whether some path could match both templates (checked at generation:
    /// peers let the last registered route win silently; we refuse).
    public func overlaps(_ other: PathTemplate) -> Bool {
        guard verb == other.verb else { return false }
        let a = segments, b = other.segments
        let aRest = a.last == .rest, bRest = b.last == .rest
        let fixedA = aRest ? a.count - 1 : a.count, fixedB = bRest ? b.count - 1 : b.count
        if !aRest && !bRest && fixedA != fixedB { return false }
        if aRest && !bRest && fixedB < fixedA { return false }
        if bRest && !aRest && fixedA < fixedB { return false }
        for i in 0..<min(fixedA, fixedB) {
            if case .literal(let x) = a[i], case .literal(let y) = b[i], x != y { return false }
        }
        return true
    }
}

/// Percent-encoding of path segments and query components (RFC 3986).
public enum PercentEncoding {
    /// Characters reserved in a path: a multi-segment variable keeps their escapes.
    static let reserved: Set<UInt8> = Set("!#$&'()*+,/:;=?@[]".utf8)

    public static func decode<S: StringProtocol>(_ s: S, keepReserved: Bool) -> String { decode(Substring(s), keepReserved: keepReserved) }
    public static func decodeQuery<S: StringProtocol>(_ s: S) -> String { decodeQuery(Substring(s)) }

    // The concrete forms do the work: a generic `S.UTF8View` scan from another module is not specialized.
    public static func decode(_ s: Substring, keepReserved: Bool) -> String {
        guard s.utf8.contains(UInt8(ascii: "%")) else { return String(s) }  // byte scans: Foundation's contains(String) is a locale-aware search
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16) {
                if keepReserved && reserved.contains(v) { out += [b] + bytes.prefix(2) } else { out.append(v) }
                bytes = bytes.dropFirst(2)
                continue
            }
            out.append(b)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Query components: `+` is a space as well.
    public static func decodeQuery(_ s: Substring) -> String {
        guard s.utf8.contains(UInt8(ascii: "+")) else { return decode(s, keepReserved: false) }
        return decode(Substring(String(decoding: s.utf8.map { $0 == UInt8(ascii: "+") ? 0x20 : $0 }, as: UTF8.self)), keepReserved: false)
    }

    /// Everything but unreserved characters is escaped.
    public static func encode(_ s: String) -> String {
        var out = ""
        for b in s.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(b >> 4)], hex[Int(b & 15)]], as: UTF8.self)
            }
        }
        return out
    }
}
