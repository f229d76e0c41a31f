import Foundation

/// The committed baseline of the contracts: a descriptor set of the module,
/// which `breaking` compares against in the tests. Refreshing it is refused
/// while any v1 package has breaking changes (v1 is additive-only).
public enum Baseline {
    public static let relativePath = "baseline/contracts.binpb"

    /// Findings that block the refresh (empty: written).
    public static func write(moduleRoot: String, to path: String, config: BufConfig) throws -> [Finding] {
        if FileManager.default.fileExists(atPath: path) {
            let blocking = try Checks.breaking(moduleRoot: moduleRoot, against: path, config: config).filter { f in
                f.path.split(separator: "/").contains("v1")
            }
            if !blocking.isEmpty { return blocking }
        }
        let files = try Protoc.listProtoFiles(under: moduleRoot)
        let bytes = try Protoc.descriptorSetBytes(root: moduleRoot, files: files, includeSourceInfo: false)
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        return []
    }
}
