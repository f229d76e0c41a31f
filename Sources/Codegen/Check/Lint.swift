import Foundation

/// buf's lint rules as data (protobuf-reference.md section 2.1), plus our
/// own placement rule for the frozen legacy namespace.
enum LintRules {
    private static let MBS: Set<String> = ["MINIMAL", "BASIC", "STANDARD"]
    private static let BS: Set<String> = ["BASIC", "STANDARD"]
    private static let S: Set<String> = ["STANDARD"]
    private static let CMT: Set<String> = ["COMMENTS"]
    private static let UNARY: Set<String> = ["UNARY_RPC"]

    static let specs: [RuleSpec] = [
        RuleSpec(id: "COMMENT_ENUM", v1: CMT, v2: CMT),
        RuleSpec(id: "COMMENT_ENUM_VALUE", v1: CMT, v2: CMT),
        RuleSpec(id: "COMMENT_FIELD", v1: CMT, v2: CMT),
        RuleSpec(id: "COMMENT_MESSAGE", v1: CMT, v2: CMT),
        RuleSpec(id: "COMMENT_ONEOF", v1: CMT, v2: CMT),
        RuleSpec(id: "COMMENT_RPC", v1: CMT, v2: CMT),
        RuleSpec(id: "COMMENT_SERVICE", v1: CMT, v2: CMT),
        RuleSpec(id: "DIRECTORY_SAME_PACKAGE", v1: MBS, v2: MBS),
        RuleSpec(id: "ENUM_FIRST_VALUE_ZERO", v1: BS, v2: BS),
        RuleSpec(id: "ENUM_NO_ALLOW_ALIAS", v1: BS, v2: BS),
        RuleSpec(id: "ENUM_PASCAL_CASE", v1: BS, v2: BS),
        RuleSpec(id: "ENUM_VALUE_PREFIX", v1: S, v2: S),
        RuleSpec(id: "ENUM_VALUE_UPPER_SNAKE_CASE", v1: BS, v2: BS),
        RuleSpec(id: "ENUM_ZERO_VALUE_SUFFIX", v1: S, v2: S),
        RuleSpec(id: "FIELD_LOWER_SNAKE_CASE", v1: BS, v2: BS),
        RuleSpec(id: "FIELD_NOT_REQUIRED", v1: nil, v2: BS),
        RuleSpec(id: "FILE_LOWER_SNAKE_CASE", v1: S, v2: S),
        RuleSpec(id: "IMPORT_NO_PUBLIC", v1: BS, v2: BS),
        RuleSpec(id: "IMPORT_NO_WEAK", v1: [], v2: [], deprecated: true),
        RuleSpec(id: "IMPORT_USED", v1: BS, v2: BS),
        RuleSpec(id: "MESSAGE_PASCAL_CASE", v1: BS, v2: BS),
        RuleSpec(id: "ONEOF_LOWER_SNAKE_CASE", v1: BS, v2: BS),
        RuleSpec(id: "PACKAGE_DEFINED", v1: MBS, v2: MBS),
        RuleSpec(id: "PACKAGE_DIRECTORY_MATCH", v1: MBS, v2: MBS),
        RuleSpec(id: "PACKAGE_LOWER_SNAKE_CASE", v1: BS, v2: BS),
        RuleSpec(id: "PACKAGE_NO_IMPORT_CYCLE", v1: [], v2: MBS),
        RuleSpec(id: "PACKAGE_SAME_CSHARP_NAMESPACE", v1: BS, v2: BS),
        RuleSpec(id: "PACKAGE_SAME_DIRECTORY", v1: MBS, v2: MBS),
        RuleSpec(id: "PACKAGE_SAME_GO_PACKAGE", v1: BS, v2: BS),
        RuleSpec(id: "PACKAGE_SAME_JAVA_MULTIPLE_FILES", v1: BS, v2: BS),
        RuleSpec(id: "PACKAGE_SAME_JAVA_PACKAGE", v1: BS, v2: BS),
        RuleSpec(id: "PACKAGE_SAME_PHP_NAMESPACE", v1: BS, v2: BS),
        RuleSpec(id: "PACKAGE_SAME_RUBY_PACKAGE", v1: BS, v2: BS),
        RuleSpec(id: "PACKAGE_SAME_SWIFT_PREFIX", v1: BS, v2: BS),
        RuleSpec(id: "PACKAGE_VERSION_SUFFIX", v1: S, v2: S),
        RuleSpec(id: "PROTOVALIDATE", v1: S, v2: S),
        RuleSpec(id: "RPC_NO_CLIENT_STREAMING", v1: UNARY, v2: UNARY),
        RuleSpec(id: "RPC_NO_SERVER_STREAMING", v1: UNARY, v2: UNARY),
        RuleSpec(id: "RPC_PASCAL_CASE", v1: BS, v2: BS),
        RuleSpec(id: "RPC_REQUEST_RESPONSE_UNIQUE", v1: S, v2: S),
        RuleSpec(id: "RPC_REQUEST_STANDARD_NAME", v1: S, v2: S),
        RuleSpec(id: "RPC_RESPONSE_STANDARD_NAME", v1: S, v2: S),
        RuleSpec(id: "SERVICE_PASCAL_CASE", v1: BS, v2: BS),
        RuleSpec(id: "SERVICE_SUFFIX", v1: S, v2: S),
        RuleSpec(id: "STABLE_PACKAGE_NO_IMPORT_UNSTABLE", v1: nil, v2: []),
        RuleSpec(id: "SYNTAX_SPECIFIED", v1: BS, v2: BS),
    ]

    /// buf's package version forms: v1, v1test..., v1alpha[N], v1beta[N], v1p1alpha[N], v1p1beta[N] (numbers >= 1).
    static func versionComponent(_ s: String) -> (stable: Bool, valid: Bool) {
        let c = Array(s)
        guard c.first == "v" else { return (false, false) }
        var i = 1
        func number() -> Int? {
            let start = i
            while i < c.count, c[i].isNumber { i += 1 }
            guard i > start, let n = Int(String(c[start..<i])), n >= 1, c[start] != "0" else { return nil }
            return n
        }
        guard number() != nil else { return (false, false) }
        if i == c.count { return (true, true) }
        let rest = String(c[i...])
        if rest.hasPrefix("test") { return (false, true) }
        if rest.hasPrefix("p") {
            i += 1
            guard number() != nil else { return (false, false) }
        }
        let tail = String(c[i...])
        for word in ["alpha", "beta"] where tail.hasPrefix(word) {
            i += word.count
            if i == c.count { return (false, true) }
            return (false, number() != nil && i == c.count)
        }
        return (false, false)
    }

    static func isUnstablePackage(_ pkg: String) -> Bool {
        guard let last = pkg.split(separator: ".").last else { return false }
        let v = versionComponent(String(last))
        return v.valid && !v.stable
    }
}

struct LintChecker {
    let module: Module
    let config: CheckConfig
    /// For the frozen-namespace rule: the baseline, when one is given.
    let baseline: Module?
    var findings: [Finding] = []
    private var rule = ""

    init(module: Module, config: CheckConfig, baseline: Module?) {
        self.module = module
        self.config = config
        self.baseline = baseline
    }

    /// `// buf:lint:ignore RULE` in the leading comments of any of the given paths.
    private func ignoredByComment(_ file: Module.File, _ paths: [[Int32]]) -> Bool {
        guard config.allowCommentIgnores else { return false }
        for p in paths {
            guard let c = file.comments(p)?.leadingComments else { continue }
            for line in c.split(separator: "\n") where line.trimmingCharacters(in: .whitespaces) == "buf:lint:ignore \(rule)" { return true }
        }
        return false
    }

    private mutating func add(_ file: Module.File, _ path: [Int32]?, ignoreAlso: [[Int32]] = [], _ message: String) {
        // The element itself and every enclosing element (even-length prefixes of its path) can carry the ignore.
        let enclosing = (path ?? []).indices.filter { $0 % 2 == 1 }.map { Array((path ?? [])[...$0]) }
        if let path, ignoredByComment(file, [path] + enclosing + ignoreAlso) { return }
        if path == nil, ignoredByComment(file, ignoreAlso) { return }
        if let path, let s = file.span(path) {
            findings.append(Finding(path: file.path, startLine: s.0, startColumn: s.1, endLine: s.2, endColumn: s.3, type: rule, message: message))
        } else {
            findings.append(Finding(path: file.path, startLine: 1, startColumn: 1, endLine: 1, endColumn: 1, type: rule, message: message))
        }
    }

    mutating func run(_ rules: [String]) -> [Finding] {
        for id in rules {
            rule = id
            check(id)
        }
        return findings
    }

    private var sortedMessages: [Module.Message] { module.messages.values.filter { !$0.desc.isMapEntry }.sorted { $0.fullName < $1.fullName } }
    private var sortedEnums: [Module.Enum] { module.enums.values.sorted { $0.fullName < $1.fullName } }
    private var sortedServices: [Module.Service] { module.services.values.sorted { $0.fullName < $1.fullName } }

    static func dir(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    static let packageOptions: [String: (UInt32, String, Bool)] = [
        "PACKAGE_SAME_CSHARP_NAMESPACE": (37, "csharp_namespace", false), "PACKAGE_SAME_GO_PACKAGE": (11, "go_package", false),
        "PACKAGE_SAME_JAVA_MULTIPLE_FILES": (10, "java_multiple_files", true), "PACKAGE_SAME_JAVA_PACKAGE": (1, "java_package", false),
        "PACKAGE_SAME_PHP_NAMESPACE": (41, "php_namespace", false), "PACKAGE_SAME_RUBY_PACKAGE": (45, "ruby_package", false),
        "PACKAGE_SAME_SWIFT_PREFIX": (39, "swift_prefix", false),
    ]

    private mutating func check(_ id: String) {
        switch id {
        case "COMMENT_MESSAGE", "COMMENT_ENUM", "COMMENT_FIELD", "COMMENT_ONEOF", "COMMENT_ENUM_VALUE", "COMMENT_SERVICE", "COMMENT_RPC":
            func missing(_ f: Module.File, _ p: [Int32]) -> Bool {
                guard let loc = f.comments(p) else { return false }
                let text = (loc.leadingComments ?? "").split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("buf:lint:ignore") }.joined()
                return text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            }
            switch id {
            case "COMMENT_MESSAGE":
                for m in sortedMessages where missing(module.files[m.file], m.path) { add(module.files[m.file], m.path, "Message \"\(m.desc.name)\" should have a non-empty comment for documentation.") }
            case "COMMENT_ENUM":
                for e in sortedEnums where missing(module.files[e.file], e.path) { add(module.files[e.file], e.path, "Enum \"\(e.desc.name)\" should have a non-empty comment for documentation.") }
            case "COMMENT_ENUM_VALUE":
                for e in sortedEnums {
                    for (i, v) in e.desc.values.enumerated() where missing(module.files[e.file], e.path + [2, Int32(i)]) {
                        add(module.files[e.file], e.path + [2, Int32(i)], "Enum value \"\(v.name)\" should have a non-empty comment for documentation.")
                    }
                }
            case "COMMENT_FIELD":
                for m in sortedMessages {
                    for (i, f) in m.desc.fields.enumerated() where missing(module.files[m.file], m.path + [2, Int32(i)]) {
                        add(module.files[m.file], m.path + [2, Int32(i)], "Field \"\(f.name)\" should have a non-empty comment for documentation.")
                    }
                }
            case "COMMENT_ONEOF":
                for m in sortedMessages {
                    for (i, o) in m.desc.oneofs.enumerated() where !m.desc.fields.filter({ $0.oneofIndex == Int32(i) }).allSatisfy(\.proto3Optional) && missing(module.files[m.file], m.path + [8, Int32(i)]) {
                        add(module.files[m.file], m.path + [8, Int32(i)], "Oneof \"\(o.name)\" should have a non-empty comment for documentation.")
                    }
                }
            case "COMMENT_SERVICE":
                for s in sortedServices where missing(module.files[s.file], s.path) { add(module.files[s.file], s.path, "Service \"\(s.desc.name)\" should have a non-empty comment for documentation.") }
            default:
                for s in sortedServices {
                    for (i, m) in s.desc.methods.enumerated() where missing(module.files[s.file], s.path + [2, Int32(i)]) {
                        add(module.files[s.file], s.path + [2, Int32(i)], "RPC \"\(m.name)\" should have a non-empty comment for documentation.")
                    }
                }
            }
        case "DIRECTORY_SAME_PACKAGE":
            let byDir = Dictionary(grouping: module.files, by: { LintChecker.dir($0.path) })
            for (dir, files) in byDir.sorted(by: { $0.key < $1.key }) {
                var pkgs = Set(files.map(\.package))
                guard pkgs.count > 1 else { continue }
                let hasEmpty = pkgs.remove("") != nil
                let joined = pkgs.sorted().joined(separator: ",")
                let prefix = hasEmpty ? (pkgs.count > 1 ? "Multiple packages \"\(joined)\" and file with no package" : "Package \"\(joined)\" and file with no package") : "Multiple packages \"\(joined)\""
                for f in files.sorted(by: { $0.path < $1.path }) { add(f, [2], "\(prefix) detected within directory \"\(dir)\".") }
            }
        case "PACKAGE_SAME_DIRECTORY":
            let byPkg = Dictionary(grouping: module.files.filter { !$0.package.isEmpty }, by: \.package)
            for (pkg, files) in byPkg.sorted(by: { $0.key < $1.key }) {
                let dirs = Set(files.map { LintChecker.dir($0.path) }).sorted()
                guard dirs.count > 1 else { continue }
                for f in files.sorted(by: { $0.path < $1.path }) { add(f, [2], "Multiple directories \"\(dirs.joined(separator: ","))\" contain files with package \"\(pkg)\".") }
            }
        case "PACKAGE_DEFINED":
            for f in module.files where f.package.isEmpty { add(f, nil, "Files must have a package defined.") }
        case "PACKAGE_DIRECTORY_MATCH":
            for f in module.files where !f.package.isEmpty {
                let expected = f.package.replacingOccurrences(of: ".", with: "/")
                let dir = LintChecker.dir(f.path)
                if dir != expected { add(f, [2], "Files with package \"\(f.package)\" must be within a directory \"\(expected)\" relative to root but were in directory \"\(dir)\".") }
            }
        case "PACKAGE_LOWER_SNAKE_CASE":
            for f in module.files where !f.package.isEmpty {
                let expected = f.package.split(separator: ".").map { BufCase.lowerSnake(String($0)) }.joined(separator: ".")
                if f.package != expected { add(f, [2], "Package name \"\(f.package)\" should be lower_snake.case, such as \"\(expected)\".") }
            }
        case "PACKAGE_VERSION_SUFFIX":
            for f in module.files where !f.package.isEmpty {
                let parts = f.package.split(separator: ".")
                let ok = parts.count >= 2 && LintRules.versionComponent(String(parts[parts.count - 1])).valid
                if !ok { add(f, [2], "Package name \"\(f.package)\" should be suffixed with a correctly formed version, such as \"\(f.package).v1\".") }
            }
        case "FILE_LOWER_SNAKE_CASE":
            for f in module.files {
                let base = (f.path as NSString).lastPathComponent
                let ext = (base as NSString).pathExtension.isEmpty ? "" : "." + (base as NSString).pathExtension
                let stem = String(base.dropLast(ext.count))
                let expected = BufCase.lowerSnake(stem)
                if stem != expected { add(f, nil, "Filename \"\(base)\" should be lower_snake_case\(ext), such as \"\(expected)\(ext)\".") }
            }
        case "SYNTAX_SPECIFIED":
            for f in module.files where f.desc.syntax.isEmpty {
                add(f, nil, "Files must have a syntax explicitly specified. If no syntax is specified, the file defaults to \"proto2\".")
            }
        case "IMPORT_NO_PUBLIC", "IMPORT_NO_WEAK":
            let weak = id == "IMPORT_NO_WEAK"
            for f in module.files {
                for i in (weak ? f.desc.weakDependencies : f.desc.publicDependencies) where Int(i) < f.desc.dependencies.count {
                    add(f, [3, i], "Import \"\(f.desc.dependencies[Int(i)])\" must not be \(weak ? "weak" : "public").")
                }
            }
        case "IMPORT_USED":
            for f in module.files {
                let used = usedTypeFiles(f)
                for (i, dep) in f.desc.dependencies.enumerated() where !used.contains(dep) && !f.desc.publicDependencies.contains(Int32(i)) {
                    add(f, [3, Int32(i)], "Import \"\(dep)\" is unused.")
                }
            }
        case "PACKAGE_NO_IMPORT_CYCLE":
            var edges: [String: Set<String>] = [:]
            let pkgOfFile = Dictionary(module.files.map { ($0.path, $0.package) }, uniquingKeysWith: { a, _ in a })
            for f in module.files { for d in f.desc.dependencies { if let p = pkgOfFile[d], p != f.package { edges[f.package, default: []].insert(p) } } }
            for f in module.files.sorted(by: { $0.path < $1.path }) {
                for (i, d) in f.desc.dependencies.enumerated() {
                    guard let target = pkgOfFile[d], target != f.package, let cycle = LintChecker.path(from: target, to: f.package, edges) else { continue }
                    add(f, [3, Int32(i)], "Package import cycle: " + ([f.package] + cycle).joined(separator: " -> "))
                }
            }
        case "ENUM_PASCAL_CASE":
            for e in sortedEnums where BufCase.pascal(e.desc.name) != e.desc.name {
                add(module.files[e.file], e.path + [1], "Enum name \"\(e.desc.name)\" should be PascalCase, such as \"\(BufCase.pascal(e.desc.name))\".")
            }
        case "ENUM_NO_ALLOW_ALIAS":
            for e in sortedEnums where e.desc.allowAlias {
                add(module.files[e.file], e.path, "Enum option \"allow_alias\" on enum \"\(e.desc.name)\" must be false.")
            }
        case "ENUM_FIRST_VALUE_ZERO":
            for e in sortedEnums {
                guard let first = e.desc.values.first, first.number != 0 else { continue }
                add(module.files[e.file], e.path + [2, 0, 2], ignoreAlso: [e.path + [2, 0], e.path], "First enum value \"\(first.name)\" should have a numeric value of 0")
            }
        case "ENUM_VALUE_PREFIX", "ENUM_VALUE_UPPER_SNAKE_CASE", "ENUM_ZERO_VALUE_SUFFIX":
            for e in sortedEnums {
                for (i, v) in e.desc.values.enumerated() {
                    let p = e.path + [2, Int32(i), 1]
                    let file = module.files[e.file]
                    switch id {
                    case "ENUM_VALUE_PREFIX":
                        let prefix = BufCase.upperSnake(e.desc.name) + "_"
                        if !v.name.hasPrefix(prefix) { add(file, p, ignoreAlso: [e.path], "Enum value name \"\(v.name)\" should be prefixed with \"\(prefix)\".") }
                    case "ENUM_VALUE_UPPER_SNAKE_CASE":
                        let expected = BufCase.upperSnake(v.name)
                        if v.name != expected { add(file, p, ignoreAlso: [e.path], "Enum value name \"\(v.name)\" should be UPPER_SNAKE_CASE, such as \"\(expected)\".") }
                    default:
                        if v.number == 0 && !v.name.hasSuffix(config.enumZeroValueSuffix) {
                            add(file, p, ignoreAlso: [e.path], "Enum zero value name \"\(v.name)\" should be suffixed with \"\(config.enumZeroValueSuffix)\".")
                        }
                    }
                }
            }
        case "MESSAGE_PASCAL_CASE":
            for m in sortedMessages where BufCase.pascal(m.desc.name) != m.desc.name {
                add(module.files[m.file], m.path + [1], "Message name \"\(m.desc.name)\" should be PascalCase, such as \"\(BufCase.pascal(m.desc.name))\".")
            }
        case "FIELD_LOWER_SNAKE_CASE", "FIELD_NOT_REQUIRED":
            for m in sortedMessages {
                for (i, f) in m.desc.fields.enumerated() {
                    let p = m.path + [2, Int32(i), 1]
                    if id == "FIELD_LOWER_SNAKE_CASE" {
                        let expected = BufCase.lowerSnake(f.name)
                        if f.name != expected { add(module.files[m.file], p, ignoreAlso: [m.path], "Field name \"\(f.name)\" should be lower_snake_case, such as \"\(expected)\".") }
                    } else if f.label == .required {
                        add(module.files[m.file], p, ignoreAlso: [m.path], "Field named \"\(f.name)\" should not be required.")
                    }
                }
            }
        case "ONEOF_LOWER_SNAKE_CASE":
            for m in sortedMessages {
                for (i, o) in m.desc.oneofs.enumerated() {
                    let members = m.desc.fields.filter { $0.oneofIndex == Int32(i) }
                    if members.count == 1 && members[0].proto3Optional { continue }
                    let expected = BufCase.lowerSnake(o.name)
                    if o.name != expected { add(module.files[m.file], m.path + [8, Int32(i), 1], ignoreAlso: [m.path], "Oneof name \"\(o.name)\" should be lower_snake_case, such as \"\(expected)\".") }
                }
            }
        case let opt where LintChecker.packageOptions[opt] != nil:
            guard let (field, name, isBool) = LintChecker.packageOptions[opt] else { return }
            let byPkg = Dictionary(grouping: module.files, by: \.package)
            for (pkg, files) in byPkg.sorted(by: { $0.key < $1.key }) {
                var values = Set(files.map { isBool ? ($0.desc.options.bool(field) ?? false ? "true" : "false") : ($0.desc.options.string(field) ?? "") })
                guard values.count > 1 else { continue }
                let none = values.remove("") != nil
                let joined = values.sorted().joined(separator: ",")
                for f in files.sorted(by: { $0.path < $1.path }) {
                    add(f, f.span([8, Int32(field)]) != nil ? [8, Int32(field)] : [2], none
                        ? "Files in package \"\(pkg)\" have both values \"\(joined)\" and no value for option \"\(name)\" and all values must be equal."
                        : "Files in package \"\(pkg)\" have multiple values \"\(joined)\" for option \"\(name)\" and all values must be equal.")
                }
            }
        case "SERVICE_PASCAL_CASE", "SERVICE_SUFFIX":
            for s in sortedServices {
                let file = module.files[s.file]
                if id == "SERVICE_PASCAL_CASE", BufCase.pascal(s.desc.name) != s.desc.name {
                    add(file, s.path + [1], "Service name \"\(s.desc.name)\" should be PascalCase, such as \"\(BufCase.pascal(s.desc.name))\".")
                }
                if id == "SERVICE_SUFFIX", !s.desc.name.hasSuffix(config.serviceSuffix) {
                    add(file, s.path + [1], "Service name \"\(s.desc.name)\" should be suffixed with \"\(config.serviceSuffix)\".")
                }
            }
        case "RPC_PASCAL_CASE", "RPC_NO_CLIENT_STREAMING", "RPC_NO_SERVER_STREAMING", "RPC_REQUEST_STANDARD_NAME", "RPC_RESPONSE_STANDARD_NAME":
            for s in sortedServices {
                let file = module.files[s.file]
                for (i, m) in s.desc.methods.enumerated() {
                    let p = s.path + [2, Int32(i)]
                    switch id {
                    case "RPC_PASCAL_CASE" where BufCase.pascal(m.name) != m.name:
                        add(file, p + [1], ignoreAlso: [s.path], "RPC name \"\(m.name)\" should be PascalCase, such as \"\(BufCase.pascal(m.name))\".")
                    case "RPC_NO_CLIENT_STREAMING" where m.clientStreaming:
                        add(file, p, ignoreAlso: [s.path], "RPC \"\(m.name)\" is client streaming.")
                    case "RPC_NO_SERVER_STREAMING" where m.serverStreaming:
                        add(file, p, ignoreAlso: [s.path], "RPC \"\(m.name)\" is server streaming.")
                    case "RPC_REQUEST_STANDARD_NAME", "RPC_RESPONSE_STANDARD_NAME":
                        let request = id == "RPC_REQUEST_STANDARD_NAME"
                        let full = String((request ? m.inputType : m.outputType).dropFirst())
                        if full == "google.protobuf.Empty" && (request ? config.rpcAllowEmptyRequests : config.rpcAllowEmptyResponses) { continue }
                        let short = full.split(separator: ".").last.map(String.init) ?? full
                        let e1 = BufCase.pascal(m.name) + (request ? "Request" : "Response")
                        let e2 = BufCase.pascal(s.desc.name) + e1
                        if short != e1 && short != e2 {
                            add(file, p + [request ? 2 : 3], ignoreAlso: [p, s.path], "RPC \(request ? "request" : "response") type \"\(short)\" should be named \"\(e1)\" or \"\(e2)\".")
                        }
                    default: break
                    }
                }
            }
        case "RPC_REQUEST_RESPONSE_UNIQUE":
            var users: [String: [(Module.Service, Int, Bool)]] = [:]
            for s in sortedServices {
                for (i, m) in s.desc.methods.enumerated() {
                    let input = String(m.inputType.dropFirst()), output = String(m.outputType.dropFirst())
                    if input == output && !config.rpcAllowSameRequestResponse && !(input == "google.protobuf.Empty" && config.rpcAllowEmptyRequests && config.rpcAllowEmptyResponses) {
                        add(module.files[s.file], s.path + [2, Int32(i)], ignoreAlso: [s.path], "RPC \"\(m.name)\" has the same type \"\(input)\" for the request and response.")
                    }
                    users[input, default: []].append((s, i, true))
                    if output != input { users[output, default: []].append((s, i, false)) }
                }
            }
            for (type, uses) in users.sorted(by: { $0.key < $1.key }) where uses.count > 1 {
                if type == "google.protobuf.Empty" && (config.rpcAllowEmptyRequests || config.rpcAllowEmptyResponses) {
                    if config.rpcAllowEmptyRequests && config.rpcAllowEmptyResponses { continue }
                    let requests = uses.filter(\.2), responses = uses.filter { !$0.2 }
                    if !config.rpcAllowEmptyRequests && requests.count > 1 {
                        for (s, i, _) in requests { add(module.files[s.file], s.path + [2, Int32(i)], ignoreAlso: [s.path], "\"\(type)\" is used as the request for multiple RPCs.") }
                    }
                    if !config.rpcAllowEmptyResponses && responses.count > 1 {
                        for (s, i, _) in responses { add(module.files[s.file], s.path + [2, Int32(i)], ignoreAlso: [s.path], "\"\(type)\" is used as the response for multiple RPCs.") }
                    }
                    continue
                }
                for (s, i, _) in uses { add(module.files[s.file], s.path + [2, Int32(i)], ignoreAlso: [s.path], "\"\(type)\" is used as the request or response type for multiple RPCs.") }
            }
        case "STABLE_PACKAGE_NO_IMPORT_UNSTABLE":
            let pkgOfFile = Dictionary(module.files.map { ($0.path, $0.package) }, uniquingKeysWith: { a, _ in a })
            for f in module.files where !LintRules.isUnstablePackage(f.package) && LintRules.versionComponent(String(f.package.split(separator: ".").last ?? "")).stable {
                for (i, d) in f.desc.dependencies.enumerated() where LintRules.isUnstablePackage(pkgOfFile[d] ?? "") {
                    add(f, [3, Int32(i)], "This file imports \"\(d)\", which is in the unstable package \"\(pkgOfFile[d] ?? "")\".")
                }
            }
        case "OPENAGENTS_PROTOCOL_V1_FROZEN":
            checkFrozenLegacyNamespace()
        default:
            break  // PROTOVALIDATE (no buf.validate annotations in use), IMPORT_NO_WEAK handled above
        }
    }

    /// Files (by name) whose types this file references: field types, RPC types, extendees.
    func usedTypeFiles(_ f: Module.File) -> Set<String> {
        var names: Set<String> = []
        func note(_ typeName: String) {
            if let file = module.definingFile[String(typeName.dropFirst())] { names.insert(file) }
        }
        func walk(_ m: MessageDescriptor) {
            for fd in m.fields where !fd.typeName.isEmpty { note(fd.typeName) }
            for fd in m.extensions { note(fd.extendee); if !fd.typeName.isEmpty { note(fd.typeName) } }
            for n in m.nested { walk(n) }
        }
        for m in f.desc.messages { walk(m) }
        for e in f.desc.extensions { note(e.extendee); if !e.typeName.isEmpty { note(e.typeName) } }
        for s in f.desc.services { for m in s.methods { note(m.inputType); note(m.outputType) } }
        // Custom options use the file that declares their extension (buf counts these too).
        var extensionFile: [String: [UInt32: String]] = [:]
        for file in module.set.files {
            func collect(_ exts: [FieldDescriptor]) { for e in exts { extensionFile[e.extendee, default: [:]][UInt32(e.number)] = file.name } }
            collect(file.extensions)
            func walkExt(_ m: MessageDescriptor) { collect(m.extensions); m.nested.forEach(walkExt) }
            file.messages.forEach(walkExt)
        }
        func options(_ o: RawOptions, _ extendee: String) {
            guard let known = extensionFile[".google.protobuf." + extendee] else { return }
            for n in o.fieldNumbers { if let file = known[n] { names.insert(file) } }
        }
        func walkOptions(_ m: MessageDescriptor) {
            options(m.options, "MessageOptions")
            for fd in m.fields { options(fd.options, "FieldOptions") }
            for o in m.oneofs { options(o.options, "OneofOptions") }
            for e in m.enums { walkEnum(e) }
            m.nested.forEach(walkOptions)
        }
        func walkEnum(_ e: EnumDescriptor) {
            options(e.options, "EnumOptions")
            for v in e.values { options(v.options, "EnumValueOptions") }
        }
        options(f.desc.options, "FileOptions")
        f.desc.messages.forEach(walkOptions)
        f.desc.enums.forEach(walkEnum)
        for s in f.desc.services {
            options(s.options, "ServiceOptions")
            for m in s.methods { options(m.options, "MethodOptions") }
        }
        return names
    }

    static func path(from start: String, to goal: String, _ edges: [String: Set<String>]) -> [String]? {
        var queue: [[String]] = [[start]]
        var seen: Set<String> = [start]
        while !queue.isEmpty {
            let p = queue.removeFirst()
            guard let last = p.last else { continue }
            if last == goal { return p }
            for n in (edges[last] ?? []).sorted() where seen.insert(n).inserted || n == goal { queue.append(p + [n]) }
        }
        return nil
    }

    /// Our placement rule: `openagents.protocol.v1` is a frozen legacy namespace
    /// (package map rule 2): nothing may be added beyond the baseline.
    mutating func checkFrozenLegacyNamespace() {
        guard let baseline else { return }
        let pkg = "openagents.protocol.v1"
        for m in sortedMessages where module.files[m.file].package == pkg {
            guard let old = baseline.messages[m.fullName] else {
                add(module.files[m.file], m.path, "Message \"\(m.nestedName)\" is new in the frozen legacy package \"\(pkg)\"; add new contracts in their canonical package.")
                continue
            }
            for (i, f) in m.desc.fields.enumerated() where !old.desc.fields.contains(where: { $0.number == f.number }) {
                add(module.files[m.file], m.path + [2, Int32(i)], "Field \"\(f.name)\" is new on message \"\(m.nestedName)\" in the frozen legacy package \"\(pkg)\".")
            }
        }
        for e in sortedEnums where module.files[e.file].package == pkg {
            guard let old = baseline.enums[e.fullName] else {
                add(module.files[e.file], e.path, "Enum \"\(e.nestedName)\" is new in the frozen legacy package \"\(pkg)\"; add new contracts in their canonical package.")
                continue
            }
            for (i, v) in e.desc.values.enumerated() where !old.desc.values.contains(where: { $0.name == v.name }) {
                add(module.files[e.file], e.path + [2, Int32(i)], "Enum value \"\(v.name)\" is new on enum \"\(e.nestedName)\" in the frozen legacy package \"\(pkg)\".")
            }
        }
        for f in module.files where f.package == pkg && baseline.file(named: f.path) == nil {
            add(f, [2], "File \"\(f.path)\" is new in the frozen legacy package \"\(pkg)\".")
        }
    }
}
