import Foundation

/// `breaking`: compares the current module against a previous one with buf's
/// rules and message wording. Messages are matched by full name, fields by
/// number, enum values by number.
struct BreakingChecker {
    let current: Module
    let previous: Module
    var findings: [Finding] = []
    private var rule = ""

    init(current: Module, previous: Module) {
        self.current = current
        self.previous = previous
    }

    // MARK: Emitting

    private mutating func add(_ file: Module.File?, _ path: [Int32]?, fallbackFile: String? = nil, _ message: String) {
        let name = file?.path ?? fallbackFile ?? ""
        if let file, let path, let s = file.span(path) {
            findings.append(Finding(path: name, startLine: s.0, startColumn: s.1, endLine: s.2, endColumn: s.3, type: rule, message: message))
        } else {
            findings.append(Finding(path: name, startLine: 1, startColumn: 1, endLine: 1, endColumn: 1, type: rule, message: message))
        }
    }

    /// Location for something deleted: the nearest enclosing element that still exists in the current file.
    private func deletedLocation(fileIndex: Int?, parentNested: String?) -> [Int32]? {
        guard let parentNested, let fi = fileIndex else { return nil }
        var name = parentNested
        let pkg = current.files[fi].package
        while !name.isEmpty {
            if let m = current.messages[(pkg.isEmpty ? "" : pkg + ".") + name], m.file == fi { return m.path }
            guard let dot = name.lastIndex(of: ".") else { break }
            name = String(name[..<dot])
        }
        return nil
    }

    // MARK: Running

    mutating func run(_ rules: [String]) -> [Finding] {
        for id in rules {
            rule = id
            check(id)
        }
        return findings
    }

    static func kindName(_ k: FieldDescriptor.Kind) -> String {
        switch k {
        case .double: return "double"
        case .float: return "float"
        case .int64: return "int64"
        case .uint64: return "uint64"
        case .int32: return "int32"
        case .fixed64: return "fixed64"
        case .fixed32: return "fixed32"
        case .bool: return "bool"
        case .string: return "string"
        case .group: return "group"
        case .message: return "message"
        case .bytes: return "bytes"
        case .uint32: return "uint32"
        case .enumeration: return "enum"
        case .sfixed32: return "sfixed32"
        case .sfixed64: return "sfixed64"
        case .sint32: return "sint32"
        case .sint64: return "sint64"
        }
    }

    static func wireGroup(_ k: FieldDescriptor.Kind) -> Int {
        switch k {
        case .int32, .int64, .uint32, .uint64, .bool: return 1
        case .sint32, .sint64: return 2
        case .string: return 3
        case .bytes: return 4
        case .fixed32, .sfixed32: return 5
        case .fixed64, .sfixed64: return 6
        case .double: return 7
        case .float: return 8
        case .group: return 9
        case .message: return 10
        case .enumeration: return 11
        }
    }

    static func wireJSONGroup(_ k: FieldDescriptor.Kind) -> Int {
        switch k {
        case .int32, .uint32: return 1
        case .int64, .uint64: return 2
        case .fixed32, .sfixed32: return 3
        case .fixed64, .sfixed64: return 4
        default: return 10 + Int(k.rawValue)
        }
    }

    func isProto3(_ m: Module, _ fileIndex: Int) -> Bool { m.files[fileIndex].desc.syntax == "proto3" }

    func cardinality(_ f: FieldDescriptor, in m: Module, file: Int) -> String {
        if f.isRepeated {
            if f.kind == .message, let entry = m.messages[String(f.typeName.dropFirst())], entry.desc.isMapEntry { return "map" }
            return "repeated"
        }
        if f.label == .required { return "required" }
        let explicit = f.kind == .message || f.kind == .group || f.oneofIndex != nil || f.proto3Optional || !isProto3(m, file)
        return explicit ? "optional with explicit presence" : "optional with implicit presence"
    }

    static func fieldDescription(_ f: FieldDescriptor, message: String, withName: Bool = true) -> String {
        if !f.extendee.isEmpty {
            return "Extension \"\(f.number)\"" + (withName ? " with name \"\(f.name)\"" : "") + " on message \"\(f.extendee.dropFirst())\""
        }
        return "Field \"\(f.number)\"" + (withName ? " with name \"\(f.name)\"" : "") + " on message \"\(message)\""
    }

    /// Message pairs present in both, by full name.
    var messagePairs: [(old: Module.Message, new: Module.Message)] {
        previous.messages.keys.sorted().compactMap { k in current.messages[k].flatMap { n in previous.messages[k].map { ($0, n) } } }
    }
    var enumPairs: [(old: Module.Enum, new: Module.Enum)] {
        previous.enums.keys.sorted().compactMap { k in current.enums[k].flatMap { n in previous.enums[k].map { ($0, n) } } }
    }
    var filePairs: [(old: Module.File, new: Module.File, index: Int)] {
        previous.files.compactMap { o in current.files.firstIndex { $0.path == o.path }.map { (o, current.files[$0], $0) } }
    }

    /// Field pairs by number, with everything needed to report them.
    var fieldPairs: [(old: FieldDescriptor, new: FieldDescriptor, oldMsg: Module.Message, newMsg: Module.Message, path: [Int32])] {
        var out: [(FieldDescriptor, FieldDescriptor, Module.Message, Module.Message, [Int32])] = []
        for (o, n) in messagePairs {
            for of in o.desc.fields {
                if let i = n.desc.fields.firstIndex(where: { $0.number == of.number }) {
                    out.append((of, n.desc.fields[i], o, n, n.path + [2, Int32(i)]))
                }
            }
        }
        return out
    }

    static let fileOptions: [String: (field: UInt32, name: String, isBool: Bool, defaultValue: String)] = [
        "FILE_SAME_JAVA_PACKAGE": (1, "java_package", false, ""),
        "FILE_SAME_JAVA_OUTER_CLASSNAME": (8, "java_outer_classname", false, ""),
        "FILE_SAME_JAVA_MULTIPLE_FILES": (10, "java_multiple_files", true, "false"),
        "FILE_SAME_GO_PACKAGE": (11, "go_package", false, ""),
        "FILE_SAME_CC_GENERIC_SERVICES": (16, "cc_generic_services", true, "false"),
        "FILE_SAME_JAVA_GENERIC_SERVICES": (17, "java_generic_services", true, "false"),
        "FILE_SAME_PY_GENERIC_SERVICES": (18, "py_generic_services", true, "false"),
        "FILE_SAME_CC_ENABLE_ARENAS": (31, "cc_enable_arenas", true, "true"),
        "FILE_SAME_OBJC_CLASS_PREFIX": (36, "objc_class_prefix", false, ""),
        "FILE_SAME_CSHARP_NAMESPACE": (37, "csharp_namespace", false, ""),
        "FILE_SAME_SWIFT_PREFIX": (39, "swift_prefix", false, ""),
        "FILE_SAME_PHP_CLASS_PREFIX": (40, "php_class_prefix", false, ""),
        "FILE_SAME_PHP_NAMESPACE": (41, "php_namespace", false, ""),
        "FILE_SAME_PHP_METADATA_NAMESPACE": (44, "php_metadata_namespace", false, ""),
        "FILE_SAME_RUBY_PACKAGE": (45, "ruby_package", false, ""),
    ]

    static func optionValue(_ o: RawOptions, _ field: UInt32, isBool: Bool, defaultValue: String) -> String {
        if isBool { return o.bool(field).map { $0 ? "true" : "false" } ?? defaultValue }
        return o.string(field) ?? defaultValue
    }

    // MARK: Rules

    private mutating func check(_ id: String) {
        switch id {
        case "FILE_NO_DELETE":
            for o in previous.files where current.file(named: o.path) == nil {
                findings.append(Finding(path: o.path, startLine: 1, startColumn: 1, endLine: 1, endColumn: 1, type: id, message: "Previously present file \"\(o.path)\" was deleted."))
            }
        case "FILE_SAME_PACKAGE":
            for (o, n, _) in filePairs where o.package != n.package {
                add(n, [2], "File package changed from \"\(o.package)\" to \"\(n.package)\".")
            }
        case "FILE_SAME_SYNTAX":
            for (o, n, _) in filePairs {
                let a = o.desc.syntax.isEmpty ? "proto2" : o.desc.syntax, b = n.desc.syntax.isEmpty ? "proto2" : n.desc.syntax
                if a != b { add(n, [12], "File syntax changed from \"\(a)\" to \"\(b)\".") }
            }
        case "FILE_SAME_OPTIMIZE_FOR":
            let names = [1: "SPEED", 2: "CODE_SIZE", 3: "LITE_RUNTIME"]
            for (o, n, _) in filePairs {
                let a = names[Int(o.desc.options.varint(9) ?? 1)] ?? "SPEED", b = names[Int(n.desc.options.varint(9) ?? 1)] ?? "SPEED"
                if a != b { add(n, [8, 9], "File option \"optimize_for\" changed from \"\(a)\" to \"\(b)\".") }
            }
        case let opt where BreakingChecker.fileOptions[opt] != nil:
            guard let spec = BreakingChecker.fileOptions[opt] else { return }
            for (o, n, _) in filePairs {
                let a = BreakingChecker.optionValue(o.desc.options, spec.field, isBool: spec.isBool, defaultValue: spec.defaultValue)
                let b = BreakingChecker.optionValue(n.desc.options, spec.field, isBool: spec.isBool, defaultValue: spec.defaultValue)
                if a != b { add(n, [8, Int32(spec.field)], "File option \"\(spec.name)\" changed from \(goQuote(a)) to \(goQuote(b)).") }
            }
        case "MESSAGE_NO_DELETE", "ENUM_NO_DELETE":
            let isMessage = id == "MESSAGE_NO_DELETE"
            for (o, _, fi) in filePairs {
                let pkg = o.package.isEmpty ? "" : o.package + "."
                let olds: [String] = isMessage ? previous.messages.values.filter { previous.files[$0.file].path == o.path && !$0.desc.isMapEntry }.map(\.nestedName)
                                               : previous.enums.values.filter { previous.files[$0.file].path == o.path }.map(\.nestedName)
                for nested in olds.sorted() {
                    let stillThere = isMessage ? current.messages[pkg + nested].map { current.files[$0.file].path == o.path } ?? false
                                               : current.enums[pkg + nested].map { current.files[$0.file].path == o.path } ?? false
                    if stillThere { continue }
                    let parent = nested.contains(".") ? String(nested[..<nested.lastIndex(of: ".")!]) : nil
                    add(current.files[fi], deletedLocation(fileIndex: fi, parentNested: parent),
                        "Previously present \(isMessage ? "message" : "enum") \"\(nested)\" was deleted from file.")
                }
            }
        case "SERVICE_NO_DELETE":
            for (o, n, _) in filePairs {
                for s in o.desc.services where !n.desc.services.contains(where: { $0.name == s.name }) {
                    add(n, nil, "Previously present service \"\(s.name)\" was deleted from file.")
                }
            }
        case "EXTENSION_NO_DELETE":
            for (o, n, _) in filePairs {
                for e in o.desc.extensions where !n.desc.extensions.contains(where: { $0.name == e.name }) {
                    add(n, nil, "Previously present extension \"\(e.name)\" was deleted from file.")
                }
            }
        case "PACKAGE_NO_DELETE":
            let now = Set(current.files.map(\.package))
            for pkg in Set(previous.files.map(\.package)).sorted() where !now.contains(pkg) {
                let first = previous.files.filter { $0.package == pkg }.map(\.path).sorted().first ?? ""
                findings.append(Finding(path: first, startLine: 1, startColumn: 1, endLine: 1, endColumn: 1, type: id, message: "Previously present package \"\(pkg)\" was deleted."))
            }
        case "PACKAGE_MESSAGE_NO_DELETE", "PACKAGE_ENUM_NO_DELETE", "PACKAGE_SERVICE_NO_DELETE":
            let now = Set(current.files.map(\.package))
            let kind = id == "PACKAGE_MESSAGE_NO_DELETE" ? "message" : id == "PACKAGE_ENUM_NO_DELETE" ? "enum" : "service"
            var olds: [(String, String, String)] = []  // full, nested, file
            switch kind {
            case "message": olds = previous.messages.values.filter { !$0.desc.isMapEntry }.map { ($0.fullName, $0.nestedName, previous.files[$0.file].path) }
            case "enum": olds = previous.enums.values.map { ($0.fullName, $0.nestedName, previous.files[$0.file].path) }
            default: olds = previous.services.values.map { ($0.fullName, $0.desc.name, previous.files[$0.file].path) }
            }
            for (full, nested, filePath) in olds.sorted(by: { $0.0 < $1.0 }) {
                let pkg = String(full.dropLast(nested.count + 1 > full.count ? 0 : nested.count + 1))
                guard now.contains(pkg) else { continue }
                let exists = kind == "message" ? current.messages[full] != nil : kind == "enum" ? current.enums[full] != nil : current.services[full] != nil
                if exists { continue }
                let fi = current.files.firstIndex { $0.path == filePath }
                add(fi.map { current.files[$0] }, nil, fallbackFile: filePath, "Previously present \(kind) \"\(nested)\" was deleted from package \"\(pkg)\".")
            }
        case "PACKAGE_EXTENSION_NO_DELETE":
            func extensions(_ m: Module) -> [String: (String, String)] {  // full name -> (package, file)
                var out: [String: (String, String)] = [:]
                for f in m.files {
                    let prefix = f.package.isEmpty ? "" : f.package + "."
                    for e in f.desc.extensions { out[prefix + e.name] = (f.package, f.path) }
                    for msg in m.messages.values where msg.file == m.files.firstIndex(where: { $0.path == f.path }) {
                        for e in msg.desc.extensions { out[msg.fullName + "." + e.name] = (f.package, f.path) }
                    }
                }
                return out
            }
            let now = extensions(current), packages = Set(current.files.map(\.package))
            for (full, (pkg, filePath)) in extensions(previous).sorted(by: { $0.key < $1.key }) where packages.contains(pkg) && now[full] == nil {
                let nested = pkg.isEmpty ? full : String(full.dropFirst(pkg.count + 1))
                add(current.file(named: filePath), nil, fallbackFile: filePath, "Previously present extension \"\(nested)\" was deleted from package \"\(pkg)\".")
            }
        case "FIELD_NO_DELETE", "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", "FIELD_NO_DELETE_UNLESS_NAME_RESERVED":
            for (o, n) in messagePairs where !o.desc.isMapEntry {
                for of in o.desc.fields where !n.desc.fields.contains(where: { $0.number == of.number }) {
                    var suffix = ""
                    if id == "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED" {
                        if n.desc.reservedRanges.contains(where: { of.number >= $0.start && of.number < $0.end }) { continue }
                        suffix = " without reserving the number \"\(of.number)\""
                    } else if id == "FIELD_NO_DELETE_UNLESS_NAME_RESERVED" {
                        if n.desc.reservedNames.contains(of.name) { continue }
                        suffix = " without reserving the name \"\(of.name)\""
                    }
                    let d = BreakingChecker.fieldDescription(of, message: n.desc.name)
                    add(current.files[n.file], n.path, "Previously present \(d.prefix(1).lowercased() + d.dropFirst()) was deleted\(suffix).")
                }
            }
        case "FIELD_SAME_NAME":
            for p in fieldPairs where p.old.name != p.new.name {
                add(current.files[p.newMsg.file], p.path + [1], "\(BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name, withName: false)) changed name from \"\(p.old.name)\" to \"\(p.new.name)\".")
            }
        case "FIELD_SAME_JSON_NAME":
            for p in fieldPairs where p.old.extendee.isEmpty {
                let a = p.old.jsonName ?? Naming.lowerCamel(_s: p.old.name), b = p.new.jsonName ?? Naming.lowerCamel(_s: p.new.name)
                if a != b {
                    let file = current.files[p.newMsg.file]
                    add(file, file.span(p.path + [10]) != nil ? p.path + [10] : p.path,
                        "\(BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name)) changed option \"json_name\" from \(goQuote(a)) to \(goQuote(b)).")
                }
            }
        case "FIELD_SAME_TYPE", "FIELD_WIRE_COMPATIBLE_TYPE", "FIELD_WIRE_JSON_COMPATIBLE_TYPE":
            for p in fieldPairs {
                let file = current.files[p.newMsg.file]
                let typePath = p.path + [p.new.kind == .message || p.new.kind == .enumeration || p.new.kind == .group ? 6 : 5]
                let desc = BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name)
                let changedKind: Bool
                var extra = ""
                switch id {
                case "FIELD_SAME_TYPE": changedKind = p.old.kind != p.new.kind
                case "FIELD_WIRE_COMPATIBLE_TYPE":
                    changedKind = BreakingChecker.wireGroup(p.old.kind) != BreakingChecker.wireGroup(p.new.kind) && !(p.old.kind == .string && p.new.kind == .bytes)
                    extra = " See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules."
                    if p.old.kind == .bytes && p.new.kind == .string {
                        extra += " Note that while string and bytes are compatible if the data is valid UTF-8, there is no way to enforce that a bytes field is UTF-8, so these fields may be incompatible."
                    }
                default:
                    changedKind = BreakingChecker.wireJSONGroup(p.old.kind) != BreakingChecker.wireJSONGroup(p.new.kind)
                    extra = " See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules and https://developers.google.com/protocol-buffers/docs/proto3#json for JSON compatibility rules."
                }
                if changedKind {
                    add(file, typePath, "\(desc) changed type from \"\(BreakingChecker.kindName(p.old.kind))\" to \"\(BreakingChecker.kindName(p.new.kind))\".\(id == "FIELD_SAME_TYPE" ? "" : extra)")
                } else if p.old.kind == p.new.kind, [.message, .enumeration, .group].contains(p.new.kind), p.old.typeName != p.new.typeName {
                    if id != "FIELD_SAME_TYPE", p.new.kind == .enumeration, enumWireCompatible(p.old.typeName, p.new.typeName) { continue }
                    add(file, typePath, "\(desc) changed type from \"\(p.old.typeName.dropFirst())\" to \"\(p.new.typeName.dropFirst())\".")
                }
            }
        case "FIELD_SAME_CARDINALITY", "FIELD_WIRE_COMPATIBLE_CARDINALITY", "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY":
            for p in fieldPairs where !p.oldMsg.desc.isMapEntry {
                let a = cardinality(p.old, in: previous, file: p.oldMsg.file), b = cardinality(p.new, in: current, file: p.newMsg.file)
                func group(_ c: String) -> Int {
                    switch c {
                    case "required": return 2
                    case "repeated": return 3
                    case "map": return id == "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY" ? 4 : 3
                    default: return 1
                    }
                }
                let differs = id == "FIELD_SAME_CARDINALITY" ? a != b : group(a) != group(b)
                if differs {
                    add(current.files[p.newMsg.file], p.path, "\(BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name)) changed cardinality from \"\(a)\" to \"\(b)\".")
                }
            }
        case "FIELD_SAME_ONEOF":
            for p in fieldPairs where p.old.extendee.isEmpty {
                func oneofName(_ f: FieldDescriptor, _ m: MessageDescriptor) -> String? {
                    guard !f.proto3Optional, let i = f.oneofIndex, Int(i) < m.oneofs.count else { return nil }
                    return m.oneofs[Int(i)].name
                }
                let a = oneofName(p.old, p.oldMsg.desc), b = oneofName(p.new, p.newMsg.desc)
                let desc = BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name)
                if let a, let b, a != b {
                    add(current.files[p.newMsg.file], p.path, "\(desc) moved from oneof \"\(a)\" to oneof \"\(b)\".")
                } else if (a == nil) != (b == nil) {
                    add(current.files[p.newMsg.file], p.path, "\(desc) moved from \(a == nil ? "outside" : "inside") to \(b == nil ? "outside" : "inside") a oneof.")
                }
            }
        case "FIELD_SAME_JSTYPE":
            let names = [0: "JS_NORMAL", 1: "JS_STRING", 2: "JS_NUMBER"]
            for p in fieldPairs where [.int64, .uint64, .sint64, .fixed64, .sfixed64].contains(p.old.kind) && [.int64, .uint64, .sint64, .fixed64, .sfixed64].contains(p.new.kind) {
                let a = names[Int(p.old.jsType ?? 0)] ?? "JS_NORMAL", b = names[Int(p.new.jsType ?? 0)] ?? "JS_NORMAL"
                if a != b { add(current.files[p.newMsg.file], p.path, "\(BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name)) changed option \"jstype\" from \"\(a)\" to \"\(b)\".") }
            }
        case "FIELD_SAME_CPP_STRING_TYPE":
            let names = [0: "STRING", 1: "CORD", 2: "STRING_PIECE"]
            for p in fieldPairs where !p.newMsg.desc.isMapEntry && [.string, .bytes].contains(p.old.kind) && [.string, .bytes].contains(p.new.kind) {
                let a = names[Int(p.old.cType ?? 0)] ?? "STRING", b = names[Int(p.new.cType ?? 0)] ?? "STRING"
                if a != b && !(a == "STRING_PIECE" && b == "STRING") {
                    add(current.files[p.newMsg.file], p.path, "\(BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name)) changed C++ string type from \"\(a)\" to \"\(b)\".")
                }
            }
        case "FIELD_SAME_JAVA_UTF8_VALIDATION":
            for p in fieldPairs where p.old.kind == .string && p.new.kind == .string {
                let a = (previous.files[p.oldMsg.file].desc.options.bool(27) ?? false) ? "VERIFY" : "DEFAULT"
                let b = (current.files[p.newMsg.file].desc.options.bool(27) ?? false) ? "VERIFY" : "DEFAULT"
                if a != b { add(current.files[p.newMsg.file], p.path, "\(BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name)) changed Java string UTF8 validation from \"\(a)\" to \"\(b)\".") }
            }
        case "FIELD_SAME_UTF8_VALIDATION":
            for p in fieldPairs where p.old.kind == .string && p.new.kind == .string {
                let a = isProto3(previous, p.oldMsg.file) ? "VERIFY" : "NONE", b = isProto3(current, p.newMsg.file) ? "VERIFY" : "NONE"
                if a != b { add(current.files[p.newMsg.file], p.path, "\(BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name)) changed UTF8 validation from \(a) to \(b).") }
            }
        case "FIELD_SAME_DEFAULT":
            for p in fieldPairs where !p.old.isRepeated && !p.new.isRepeated && p.old.kind != .message && p.new.kind != .message {
                let a = p.old.defaultValue ?? "", b = p.new.defaultValue ?? ""
                if a != b { add(current.files[p.newMsg.file], p.path, "\(BreakingChecker.fieldDescription(p.new, message: p.newMsg.desc.name)) changed default value from \(a.isEmpty ? "none" : a) to \(b.isEmpty ? "none" : b).") }
            }
        case "ONEOF_NO_DELETE":
            for (o, n) in messagePairs {
                for (i, oo) in o.desc.oneofs.enumerated() where !n.desc.oneofs.contains(where: { $0.name == oo.name }) {
                    let synthetic = o.desc.fields.filter { $0.oneofIndex == Int32(i) }.allSatisfy(\.proto3Optional)
                    if synthetic { continue }
                    add(current.files[n.file], n.path, "Previously present oneof \"\(oo.name)\" on message \"\(n.desc.name)\" was deleted.")
                }
            }
        case "MESSAGE_SAME_REQUIRED_FIELDS":
            for (o, n) in messagePairs {
                let a = Set(o.desc.fields.filter { $0.label == .required }.map(\.number)), b = Set(n.desc.fields.filter { $0.label == .required }.map(\.number))
                for num in a.subtracting(b).sorted() {
                    add(current.files[n.file], n.path, "Message \"\(o.desc.name)\" had required field \"\(num)\" deleted. Required fields must always be sent, so if one side does not know about the required field, this will result in a breakage.")
                }
                for num in b.subtracting(a).sorted() {
                    let i = n.desc.fields.firstIndex { $0.number == num }.map { Int32($0) } ?? 0
                    add(current.files[n.file], n.path + [2, i], "Message \"\(n.desc.name)\" had required field \"\(num)\" added. Required fields must always be sent, so if one side does not know about the required field, this will result in a breakage.")
                }
            }
        case "MESSAGE_NO_REMOVE_STANDARD_DESCRIPTOR_ACCESSOR":
            for (o, n) in messagePairs where !(o.desc.options.bool(2) ?? false) && (n.desc.options.bool(2) ?? false) {
                add(current.files[n.file], n.path, "Message option \"no_standard_descriptor_accessor\" changed from \"false\" to \"true\".")
            }
        case "MESSAGE_SAME_JSON_FORMAT":
            for (o, n) in messagePairs where isProto3(previous, o.file) && !isProto3(current, n.file) {
                add(current.files[n.file], n.path, "Message \"\(n.desc.name)\" JSON format support changed from ALLOW to LEGACY_BEST_EFFORT.")
            }
        case "ENUM_SAME_JSON_FORMAT":
            for (o, n) in enumPairs where isProto3(previous, o.file) && !isProto3(current, n.file) {
                add(current.files[n.file], n.path, "Enum \"\(n.desc.name)\" JSON format support changed from ALLOW to LEGACY_BEST_EFFORT.")
            }
        case "ENUM_SAME_TYPE":
            for (o, n) in enumPairs where isProto3(previous, o.file) != isProto3(current, n.file) {
                let a = isProto3(previous, o.file) ? "open" : "closed", b = isProto3(current, n.file) ? "open" : "closed"
                add(current.files[n.file], n.path, "Enum \"\(n.desc.name)\" changed from \(a) to \(b).")
            }
        case "ENUM_VALUE_NO_DELETE", "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED", "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED":
            for (o, n) in enumPairs {
                let now = Set(n.desc.values.map(\.number))
                for num in Set(o.desc.values.map(\.number)).sorted() where !now.contains(num) {
                    let names = o.desc.values.filter { $0.number == num }.map(\.name).sorted()
                    var suffix = ""
                    if id == "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED" {
                        if n.desc.reservedRanges.contains(where: { num >= $0.start && num <= $0.end }) { continue }
                        suffix = " without reserving the number \"\(num)\""
                    } else if id == "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED" {
                        if names.allSatisfy({ n.desc.reservedNames.contains($0) }) { continue }
                        suffix = " without reserving the name\(names.count > 1 ? "s" : "") " + names.map { "\"\($0)\"" }.joined(separator: ", ")
                    }
                    add(current.files[n.file], n.path, "Previously present enum value \"\(num)\" on enum \"\(n.desc.name)\" was deleted\(suffix).")
                }
            }
        case "ENUM_VALUE_SAME_NAME":
            for (o, n) in enumPairs {
                for num in Set(n.desc.values.map(\.number)).sorted() {
                    let before = o.desc.values.filter { $0.number == num }.map(\.name).sorted()
                    let after = n.desc.values.filter { $0.number == num }.map(\.name).sorted()
                    guard !before.isEmpty, !Set(before).isSubset(of: Set(after)) else { continue }  // adding aliases is fine
                    let plural = before.count > 1 && after.count > 1 ? "s" : ""
                    let q: ([String]) -> String = { $0.map { "\"\($0)\"" }.joined(separator: ", ") }
                    for (i, v) in n.desc.values.enumerated() where v.number == num {
                        add(current.files[n.file], n.path + [2, Int32(i), 2], "Enum value \"\(num)\" on enum \"\(n.desc.name)\" changed name\(plural) from \(q(before)) to \(q(after)).")
                    }
                }
            }
        case "RESERVED_MESSAGE_NO_DELETE", "RESERVED_ENUM_NO_DELETE", "EXTENSION_MESSAGE_NO_DELETE":
            func ranges(_ r: [ClosedRangeSpec], exclusiveEnd: Bool) -> [(Int, Int)] { r.map { (Int($0.start), Int($0.end) - (exclusiveEnd ? 1 : 0)) } }
            func report(_ old: [(Int, Int)], _ new: [(Int, Int)], kind: String, elementKind: String, name: String, max: Int, file: Module.File, path: [Int32]) {
                let collapsed = BreakingChecker.collapse(new)
                for (s, e) in old {
                    let missing = BreakingChecker.missing(s, e, collapsed)
                    guard !missing.isEmpty else { continue }
                    let rangeString = s == e ? "[\(s)]" : e == max ? "[\(s),max]" : "[\(s),\(e)]"
                    let removed = missing.map { $0.0 == $0.1 ? "[\($0.0)]" : $0.1 == max ? "[\($0.0),max]" : "[\($0.0),\($0.1)]" }.joined(separator: ", ")
                    add(file, path, "Previously present \(kind) range \"\(rangeString)\" on \(elementKind) \"\(name)\" is missing values: \(removed) were removed.")
                }
            }
            if id == "RESERVED_ENUM_NO_DELETE" {
                for (o, n) in enumPairs {
                    report(ranges(o.desc.reservedRanges, exclusiveEnd: false), ranges(n.desc.reservedRanges, exclusiveEnd: false), kind: "reserved", elementKind: "enum", name: n.desc.name, max: Int(Int32.max), file: current.files[n.file], path: n.path)
                    for name in o.desc.reservedNames where !n.desc.reservedNames.contains(name) {
                        add(current.files[n.file], n.path, "Previously present reserved name \"\(name)\" on enum \"\(n.desc.name)\" was deleted.")
                    }
                }
            } else {
                for (o, n) in messagePairs {
                    let reserved = id == "RESERVED_MESSAGE_NO_DELETE"
                    report(ranges(reserved ? o.desc.reservedRanges : o.desc.extensionRanges, exclusiveEnd: true),
                           ranges(reserved ? n.desc.reservedRanges : n.desc.extensionRanges, exclusiveEnd: true),
                           kind: reserved ? "reserved" : "extension", elementKind: "message", name: n.desc.name, max: 536_870_911, file: current.files[n.file], path: n.path)
                    if reserved {
                        for name in o.desc.reservedNames where !n.desc.reservedNames.contains(name) {
                            add(current.files[n.file], n.path, "Previously present reserved name \"\(name)\" on message \"\(n.desc.name)\" was deleted.")
                        }
                    }
                }
            }
        case "RPC_NO_DELETE", "RPC_SAME_CLIENT_STREAMING", "RPC_SAME_SERVER_STREAMING", "RPC_SAME_REQUEST_TYPE", "RPC_SAME_RESPONSE_TYPE", "RPC_SAME_IDEMPOTENCY_LEVEL":
            for (key, o) in previous.services.sorted(by: { $0.key < $1.key }) {
                guard let n = current.services[key] else { continue }
                let file = current.files[n.file]
                for m in o.desc.methods {
                    guard let j = n.desc.methods.firstIndex(where: { $0.name == m.name }) else {
                        if id == "RPC_NO_DELETE" { add(file, n.path, "Previously present RPC \"\(m.name)\" on service \"\(n.desc.name)\" was deleted.") }
                        continue
                    }
                    let nm = n.desc.methods[j]
                    let mp = n.path + [2, Int32(j)]
                    switch id {
                    case "RPC_SAME_CLIENT_STREAMING" where m.clientStreaming != nm.clientStreaming:
                        add(file, mp, "RPC \"\(nm.name)\" on service \"\(n.desc.name)\" changed from client \(m.clientStreaming ? "streaming" : "unary") to client \(nm.clientStreaming ? "streaming" : "unary").")
                    case "RPC_SAME_SERVER_STREAMING" where m.serverStreaming != nm.serverStreaming:
                        add(file, mp, "RPC \"\(nm.name)\" on service \"\(n.desc.name)\" changed from server \(m.serverStreaming ? "streaming" : "unary") to server \(nm.serverStreaming ? "streaming" : "unary").")
                    case "RPC_SAME_REQUEST_TYPE" where m.inputType != nm.inputType:
                        add(file, mp + [2], "RPC \"\(nm.name)\" on service \"\(n.desc.name)\" changed request type from \"\(m.inputType.dropFirst())\" to \"\(nm.inputType.dropFirst())\".")
                    case "RPC_SAME_RESPONSE_TYPE" where m.outputType != nm.outputType:
                        add(file, mp + [3], "RPC \"\(nm.name)\" on service \"\(n.desc.name)\" changed response type from \"\(m.outputType.dropFirst())\" to \"\(nm.outputType.dropFirst())\".")
                    case "RPC_SAME_IDEMPOTENCY_LEVEL":
                        let names = [0: "IDEMPOTENCY_UNKNOWN", 1: "NO_SIDE_EFFECTS", 2: "IDEMPOTENT"]
                        let a = names[Int(m.options.varint(34) ?? 0)] ?? "IDEMPOTENCY_UNKNOWN", b = names[Int(nm.options.varint(34) ?? 0)] ?? "IDEMPOTENCY_UNKNOWN"
                        if a != b { add(file, mp, "RPC \"\(nm.name)\" on service \"\(n.desc.name)\" changed option \"idempotency_level\" from \"\(a)\" to \"\(b)\".") }
                    default: break
                    }
                }
            }
        default:
            break  // deprecated no-ops: FIELD_SAME_CTYPE, FIELD_SAME_LABEL, FILE_SAME_JAVA_STRING_CHECK_UTF8, FILE_SAME_PHP_GENERIC_SERVICES, MESSAGE_SAME_MESSAGE_SET_WIRE_FORMAT
        }
    }

    /// The wire rules tolerate an enum type-name change when the short names
    /// match and the old enum's values are a subset of the new one's.
    func enumWireCompatible(_ oldName: String, _ newName: String) -> Bool {
        guard let o = previous.enums[String(oldName.dropFirst())], let n = current.enums[String(newName.dropFirst())], o.desc.name == n.desc.name else { return false }
        let now = Set(n.desc.values.map { "\($0.name)=\($0.number)" })
        return o.desc.values.allSatisfy { now.contains("\($0.name)=\($0.number)") }
    }

    /// Go's %q, which buf uses for values: quotes, backslash escapes, \u for other control characters.
    func goQuote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default: if u.value < 0x20 || u.value == 0x7F { out += String(format: "\\x%02x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    static func collapse(_ ranges: [(Int, Int)]) -> [(Int, Int)] {
        let sorted = ranges.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
        var out: [(Int, Int)] = []
        for r in sorted {
            if let last = out.last, r.0 <= last.1 + 1 { out[out.count - 1].1 = max(last.1, r.1) } else { out.append(r) }
        }
        return out
    }

    static func missing(_ start: Int, _ end: Int, _ collapsed: [(Int, Int)]) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        var cursor = start
        for (s, e) in collapsed where e >= cursor && s <= end {
            if s > cursor { out.append((cursor, min(end, s - 1))) }
            cursor = max(cursor, e + 1)
            if cursor > end { break }
        }
        if cursor <= end { out.append((cursor, end)) }
        return out
    }
}
