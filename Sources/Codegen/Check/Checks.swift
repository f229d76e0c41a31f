import Foundation

/// `lint` and `breaking` as library calls (the CLI and the gate test use the same code).
public enum Checks {
    /// The module's .proto files compiled with source info; imports (well-known types) are resolved but not checked.
    static func compile(root: String) throws -> (FileDescriptorSet, Set<String>) {
        let files = try Protoc.listProtoFiles(under: root)
        guard !files.isEmpty else { throw CheckError.input("no .proto files under \(root)") }
        return (try Protoc.descriptorSet(root: root, files: files), Set(files))
    }

    /// The previous state to compare against: a descriptor-set file, a directory
    /// of .proto files, or a git ref spelled as buf does (`.git#branch=main`, `.git#ref=<sha>`, `.git#tag=v1`).
    static func loadAgainst(_ against: String, modulePath: String) throws -> Module {
        if let hash = against.firstIndex(of: "#") {
            let repo = String(against[..<hash])
            var ref = "HEAD"
            var subdir = modulePath
            for part in against[against.index(after: hash)...].split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw CheckError.input("bad --against option \"\(part)\"") }
                switch kv[0] {
                case "branch", "ref", "tag": ref = kv[1]
                case "subdir": subdir = kv[1]
                default: throw CheckError.input("unknown --against option \"\(kv[0])\"")
                }
            }
            let repoDir = repo.hasSuffix(".git") ? (repo == ".git" ? "." : String(repo.dropLast(5)).isEmpty ? "." : String(repo.dropLast(5))) : repo
            let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("against-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            let archive = try Protoc.run("/usr/bin/env", ["git", "-C", repoDir, "archive", "--format=tar", ref, "--", subdir])
            guard archive.status == 0 else { throw CheckError.input("git archive \(ref) failed: \(archive.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
            let untar = try Protoc.run("/usr/bin/env", ["tar", "-x", "-C", tmp], stdin: archive.stdout)
            guard untar.status == 0 else { throw CheckError.input("cannot unpack \(ref): \(untar.stderr)") }
            let (set, files) = try compile(root: tmp + "/" + subdir)
            return Module(set, only: { files.contains($0) })
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: against, isDirectory: &isDir) else { throw CheckError.input("--against \(against): no such file or directory") }
        if isDir.boolValue {
            let (set, files) = try compile(root: against)
            return Module(set, only: { files.contains($0) })
        }
        let set = try Protoc.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: against))))
        return Module(set, only: { !$0.hasPrefix("google/protobuf/") })
    }

    public static func lint(moduleRoot: String, config: BufConfig, baselinePath: String? = nil, extraRules: [String] = []) throws -> [Finding] {
        let (set, files) = try compile(root: moduleRoot)
        let module = Module(set, only: { files.contains($0) })
        let baseline = try baselinePath.map { try loadAgainst($0, modulePath: config.modulePath) }
        let rules = try RuleSelection.select(LintRules.specs, config: config.lint, version: config.version) + extraRules
        var checker = LintChecker(module: module, config: config.lint, baseline: baseline)
        return filter(checker.run(rules), config: config, section: config.lint, specs: LintRules.specs, unstable: nil)
    }

    public static func breaking(moduleRoot: String, against: String, config: BufConfig) throws -> [Finding] {
        let (set, files) = try compile(root: moduleRoot)
        let current = Module(set, only: { files.contains($0) })
        let previous = try loadAgainst(against, modulePath: config.modulePath)
        return breaking(current: current, previous: previous, config: config)
    }

    static func breaking(current: Module, previous: Module, config: BufConfig) -> [Finding] {
        let rules = (try? RuleSelection.select(BreakingRules.specs, config: config.breaking, version: config.version)) ?? []
        var checker = BreakingChecker(current: current, previous: previous)
        var findings = checker.run(rules)
        // Our route rules (buf has none): on unless excepted.
        let routeRules = RouteBreakingRules.ids.filter { !config.breaking.except.contains($0) }
        findings += RouteBreakingRules.check(current: current, previous: previous, rules: Set(routeRules))
        let rpcRules = JSONRPCBreakingRules.ids.filter { !config.breaking.except.contains($0) }
        findings += JSONRPCBreakingRules.check(current: current, previous: previous, rules: Set(rpcRules))
        let unstable: Set<String>? = config.breaking.ignoreUnstablePackages
            ? Set((current.files + previous.files).filter { LintRules.isUnstablePackage($0.package) }.map(\.path)) : nil
        return filter(findings, config: config, section: config.breaking, specs: BreakingRules.specs, unstable: unstable)
    }

    /// `ignore`, `ignore_only` (by rule or category) and `ignore_unstable_packages`.
    static func filter(_ findings: [Finding], config: BufConfig, section: CheckConfig, specs: [RuleSpec], unstable: Set<String>?) -> [Finding] {
        func under(_ path: String, _ prefixes: [String]) -> Bool {
            prefixes.map(config.moduleRelative).contains { p in p.isEmpty || path == p || path.hasPrefix(p.hasSuffix("/") ? p : p + "/") }
        }
        return findings.filter { f in
            if under(f.path, section.ignore) { return false }
            if let unstable, unstable.contains(f.path) { return false }
            let categories = specs.first { $0.id == f.type }.flatMap { config.version == "v2" ? $0.v2 : $0.v1 } ?? []
            for (key, paths) in section.ignoreOnly where (key == f.type || categories.contains(key)) && under(f.path, paths) { return false }
            return true
        }.sorted()
    }

    /// Exit status as buf uses it: 100 when there are findings, else 0.
    public static func exitCode(_ findings: [Finding]) -> Int32 { findings.isEmpty ? 0 : 100 }

    public static func format(_ findings: [Finding], json: Bool) -> String {
        findings.map { json ? $0.json : $0.text }.joined(separator: "\n") + (findings.isEmpty ? "" : "\n")
    }
}
