/// One lint or breaking-change finding, printed like buf prints it.
public struct Finding: Hashable, Sendable, Comparable {
    public var path: String
    public var startLine: Int
    public var startColumn: Int
    public var endLine: Int
    public var endColumn: Int
    /// The rule ID (buf calls it `type`).
    public var type: String
    public var message: String

    public static func < (a: Finding, b: Finding) -> Bool {
        (a.path, a.startLine, a.startColumn, a.type, a.message) < (b.path, b.startLine, b.startColumn, b.type, b.message)
    }

    /// `path:line:column:message`, buf's default text format.
    public var text: String { "\(path):\(startLine):\(startColumn):\(message)" }

    /// One JSON object per finding, buf's `--error-format json`.
    public var json: String {
        func q(_ s: String) -> String {
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                default:
                    if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
                }
            }
            return out + "\""
        }
        return "{\"path\":\(q(path)),\"start_line\":\(startLine),\"start_column\":\(startColumn),\"end_line\":\(endLine),\"end_column\":\(endColumn),\"type\":\(q(type)),\"message\":\(q(message))}"
    }
}

import Foundation
