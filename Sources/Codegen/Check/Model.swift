/// A descriptor set seen as buf's checks see it: files with their source
/// locations, and every message, enum and service with its full name and the
/// source path that locates it.
struct Module {
    struct File {
        let desc: FileDescriptor
        let locations: [[Int32]: SourceLocation]
        var path: String { desc.name }
        var package: String { desc.package }

        /// 1-based line/column span of a descriptor path, or nil when the file has no source info for it.
        func span(_ p: [Int32]) -> (Int, Int, Int, Int)? {
            guard let s = locations[p]?.span, s.count >= 3 else { return nil }
            if s.count == 3 { return (Int(s[0]) + 1, Int(s[1]) + 1, Int(s[0]) + 1, Int(s[2]) + 1) }
            return (Int(s[0]) + 1, Int(s[1]) + 1, Int(s[2]) + 1, Int(s[3]) + 1)
        }

        func comments(_ p: [Int32]) -> SourceLocation? { locations[p] }
    }

    struct Message {
        let desc: MessageDescriptor
        let fullName: String      // pkg.Outer.Inner
        let nestedName: String    // Outer.Inner
        let file: Int
        let path: [Int32]
        let parentPaths: [[Int32]] // enclosing messages, outermost first
    }

    struct Enum {
        let desc: EnumDescriptor
        let fullName: String
        let nestedName: String
        let file: Int
        let path: [Int32]
        let parentPaths: [[Int32]]
    }

    struct Service {
        let desc: ServiceDescriptor
        let fullName: String
        let file: Int
        let path: [Int32]
    }

    var files: [File] = []
    var messages: [String: Message] = [:]
    var enums: [String: Enum] = [:]
    var services: [String: Service] = [:]
    /// Every message and enum of the whole set (imports included) -> the file that defines it.
    var definingFile: [String: String] = [:]
    /// The whole set, for checks that resolve types across files (HTTP bindings).
    let set: FileDescriptorSet

    init(_ set: FileDescriptorSet, only include: (String) -> Bool = { _ in true }) {
        self.set = set
        for f in set.files {
            let prefix = f.package.isEmpty ? "" : f.package + "."
            func walk(_ m: MessageDescriptor, _ name: String) {
                definingFile[name] = f.name
                for n in m.nested { walk(n, name + "." + n.name) }
                for e in m.enums { definingFile[name + "." + e.name] = f.name }
            }
            for m in f.messages { walk(m, prefix + m.name) }
            for e in f.enums { definingFile[prefix + e.name] = f.name }
        }
        for f in set.files where include(f.name) {
            var locs: [[Int32]: SourceLocation] = [:]
            for l in f.locations where locs[l.path] == nil { locs[l.path] = l }
            files.append(File(desc: f, locations: locs))
        }
        for (fi, file) in files.enumerated() {
            let prefix = file.package.isEmpty ? "" : file.package + "."
            for (i, m) in file.desc.messages.enumerated() { addMessage(m, nested: m.name, prefix: prefix, file: fi, path: [4, Int32(i)], parents: []) }
            for (i, e) in file.desc.enums.enumerated() {
                enums[prefix + e.name] = Enum(desc: e, fullName: prefix + e.name, nestedName: e.name, file: fi, path: [5, Int32(i)], parentPaths: [])
            }
            for (i, s) in file.desc.services.enumerated() {
                services[prefix + s.name] = Service(desc: s, fullName: prefix + s.name, file: fi, path: [6, Int32(i)])
            }
        }
    }

    private mutating func addMessage(_ m: MessageDescriptor, nested: String, prefix: String, file: Int, path: [Int32], parents: [[Int32]]) {
        messages[prefix + nested] = Message(desc: m, fullName: prefix + nested, nestedName: nested, file: file, path: path, parentPaths: parents)
        for (i, n) in m.nested.enumerated() {
            addMessage(n, nested: nested + "." + n.name, prefix: prefix, file: file, path: path + [3, Int32(i)], parents: parents + [path])
        }
        for (i, e) in m.enums.enumerated() {
            enums[prefix + nested + "." + e.name] = Enum(desc: e, fullName: prefix + nested + "." + e.name, nestedName: nested + "." + e.name,
                                                        file: file, path: path + [4, Int32(i)], parentPaths: parents + [path])
        }
    }

    func file(named path: String) -> File? { files.first { $0.path == path } }
}

/// buf's case helpers (idempotence-based: a name passes iff it equals its conversion).
enum BufCase {
    static func isDelimiter(_ c: Character) -> Bool { c == "." || c == "-" || c == "_" || c == " " || c == "\t" || c == "\n" || c == "\r" }

    static func pascal(_ s: String) -> String {
        var out = ""
        var afterDelimiter = false
        var first = true
        for c in s.trimmingCharacters(in: .whitespaces) {
            if isDelimiter(c) { afterDelimiter = true; continue }
            if first || afterDelimiter || c.isUppercase { out += c.uppercased() } else { out += c.lowercased() }
            first = false
            afterDelimiter = false
        }
        return out
    }

    static func snake(_ s: String) -> String {
        let chars = Array(s)
        var start = 0, end = chars.count
        while start < end && isDelimiter(chars[start]) { start += 1 }
        while end > start && isDelimiter(chars[end - 1]) { end -= 1 }
        var out = ""
        var i = start
        while i < end {
            let c = chars[i]
            if isDelimiter(c) {
                if !out.hasSuffix("_") { out += "_" }
                i += 1
                continue
            }
            if c.isUppercase, i > start, !out.hasSuffix("_") {
                let next: Character? = i + 1 < end ? chars[i + 1] : nil
                let prev = chars[i - 1]
                let nextStartsWord = next.map { !($0.isUppercase || $0.isNumber) && !isDelimiter($0) } ?? false
                if nextStartsWord || prev.isLowercase { out += "_" }
            }
            out.append(c)
            i += 1
        }
        return out
    }

    static func lowerSnake(_ s: String) -> String { snake(s).lowercased() }
    static func upperSnake(_ s: String) -> String { snake(s).uppercased() }
}

import Foundation
