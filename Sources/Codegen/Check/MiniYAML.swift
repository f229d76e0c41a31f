/// The YAML subset buf.yaml uses: nested block mappings, block lists
/// (`- item`, including lists of mappings), flow lists (`[a, b]`), plain and
/// quoted scalars, comments. Enough for every buf.yaml shape; errors name the line.
indirect enum YAMLValue: Equatable {
    case scalar(String)
    case list([YAMLValue])
    case map([(String, YAMLValue)])

    static func == (a: YAMLValue, b: YAMLValue) -> Bool {
        switch (a, b) {
        case (.scalar(let x), .scalar(let y)): return x == y
        case (.list(let x), .list(let y)): return x == y
        case (.map(let x), .map(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        default: return false
        }
    }

    subscript(key: String) -> YAMLValue? {
        if case .map(let pairs) = self { return pairs.last { $0.0 == key }?.1 }
        return nil
    }
    var string: String? { if case .scalar(let s) = self { return s }; return nil }
    var strings: [String] {
        switch self {
        case .list(let items): return items.compactMap(\.string)
        case .scalar(let s): return s.isEmpty ? [] : [s]
        default: return []
        }
    }
    var bool: Bool? { string.map { $0 == "true" } }
}

struct YAMLError: Error, CustomStringConvertible {
    let line: Int
    let message: String
    var description: String { "buf.yaml:\(line): \(message)" }
}

enum MiniYAML {
    struct Line { let number: Int; let indent: Int; let text: String }

    static func parse(_ text: String) throws -> YAMLValue {
        var lines: [Line] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let s = stripComment(String(raw))
            if s.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let indent = s.prefix { $0 == " " }.count
            lines.append(Line(number: i + 1, indent: indent, text: String(s.dropFirst(indent)).trimmingCharacters(in: .whitespaces)))
        }
        var pos = 0
        if lines.isEmpty { return .map([]) }
        return try block(&lines, &pos, indent: lines[0].indent)
    }

    static func stripComment(_ s: String) -> String {
        var inSingle = false, inDouble = false
        var prev: Character = " "
        for (i, c) in s.enumerated() {
            if c == "'" && !inDouble { inSingle.toggle() }
            if c == "\"" && !inSingle { inDouble.toggle() }
            if c == "#" && !inSingle && !inDouble && (prev == " " || i == 0) { return String(s.prefix(i)) }
            prev = c
        }
        return s
    }

    static func block(_ lines: inout [Line], _ pos: inout Int, indent: Int) throws -> YAMLValue {
        if lines[pos].text.hasPrefix("- ") || lines[pos].text == "-" {
            var items: [YAMLValue] = []
            while pos < lines.count, lines[pos].indent == indent, lines[pos].text.hasPrefix("-") {
                let rest = String(lines[pos].text.dropFirst()).trimmingCharacters(in: .whitespaces)
                if rest.isEmpty {
                    pos += 1
                    items.append(pos < lines.count && lines[pos].indent > indent ? try block(&lines, &pos, indent: lines[pos].indent) : .scalar(""))
                } else if keyValue(rest) != nil {
                    // A mapping inside a list item: re-read it as a block at the item's content indent.
                    let contentIndent = indent + (lines[pos].text.count - rest.count)
                    lines[pos] = Line(number: lines[pos].number, indent: contentIndent, text: rest)
                    items.append(try block(&lines, &pos, indent: contentIndent))
                } else {
                    items.append(scalarOrFlow(rest))
                    pos += 1
                }
            }
            return .list(items)
        }
        var pairs: [(String, YAMLValue)] = []
        while pos < lines.count, lines[pos].indent == indent {
            guard let (key, value) = keyValue(lines[pos].text) else {
                throw YAMLError(line: lines[pos].number, message: "expected 'key: value'")
            }
            pos += 1
            if value.isEmpty {
                if pos < lines.count, lines[pos].indent > indent || (lines[pos].indent == indent && lines[pos].text.hasPrefix("-")) {
                    pairs.append((key, try block(&lines, &pos, indent: lines[pos].indent)))
                } else {
                    pairs.append((key, .scalar("")))
                }
            } else {
                pairs.append((key, scalarOrFlow(value)))
            }
        }
        if pos < lines.count, lines[pos].indent > indent {
            throw YAMLError(line: lines[pos].number, message: "unexpected indentation")
        }
        return .map(pairs)
    }

    static func keyValue(_ s: String) -> (String, String)? {
        guard let colon = s.range(of: ":") else { return nil }
        let after = s[colon.upperBound...]
        guard after.isEmpty || after.first == " " else { return nil }
        return (unquote(String(s[..<colon.lowerBound]).trimmingCharacters(in: .whitespaces)), String(after).trimmingCharacters(in: .whitespaces))
    }

    static func scalarOrFlow(_ s: String) -> YAMLValue {
        if s.hasPrefix("[") && s.hasSuffix("]") {
            let inner = s.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            if inner.isEmpty { return .list([]) }
            return .list(inner.split(separator: ",").map { .scalar(unquote($0.trimmingCharacters(in: .whitespaces))) })
        }
        if s == "{}" { return .map([]) }
        return .scalar(unquote(s))
    }

    static func unquote(_ s: String) -> String {
        if s.count >= 2, (s.hasPrefix("\"") && s.hasSuffix("\"")) || (s.hasPrefix("'") && s.hasSuffix("'")) { return String(s.dropFirst().dropLast()) }
        return s
    }
}

import Foundation
