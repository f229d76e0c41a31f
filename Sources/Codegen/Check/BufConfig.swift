import Foundation

/// The lint and breaking sections of a buf.yaml (v1 or v2 shape).
public struct CheckConfig: Sendable {
    public var use: [String]
    public var except: [String] = []
    /// Paths (files or directories, relative to the module root) whose findings are dropped.
    public var ignore: [String] = []
    /// Rule or category -> paths.
    public var ignoreOnly: [String: [String]] = [:]
    public var allowCommentIgnores = false
    public var enumZeroValueSuffix = "_UNSPECIFIED"
    public var serviceSuffix = "Service"
    public var rpcAllowSameRequestResponse = false
    public var rpcAllowEmptyRequests = false
    public var rpcAllowEmptyResponses = false
    public var ignoreUnstablePackages = false
}

public struct BufConfig: Sendable {
    public var version: String
    /// The module root, relative to the buf.yaml directory ("." for v1).
    public var modulePath: String
    public var lint: CheckConfig
    public var breaking: CheckConfig

    public static let defaults = BufConfig(version: "v2", modulePath: ".", lint: CheckConfig(use: ["STANDARD"], allowCommentIgnores: true), breaking: CheckConfig(use: ["FILE"]))

    public static func load(_ path: String) throws -> BufConfig {
        try parse(String(contentsOfFile: path, encoding: .utf8))
    }

    public static func parse(_ text: String) throws -> BufConfig {
        let root = try MiniYAML.parse(text)
        let version = root["version"]?.string ?? "v1"
        guard ["v1", "v1beta1", "v2"].contains(version) else { throw YAMLError(line: 1, message: "unknown version \(version)") }
        var modulePath = "."
        var lintNode = root["lint"]
        var breakingNode = root["breaking"]
        if version == "v2", case .list(let modules)? = root["modules"], let first = modules.first {
            modulePath = first["path"]?.string ?? "."
            if let l = first["lint"] { lintNode = l }
            if let b = first["breaking"] { breakingNode = b }
        }
        func section(_ node: YAMLValue?, defaultUse: String, lint: Bool) -> CheckConfig {
            var c = CheckConfig(use: node?["use"]?.strings ?? [defaultUse])
            if c.use.isEmpty { c.use = [defaultUse] }
            c.except = node?["except"]?.strings ?? []
            c.ignore = node?["ignore"]?.strings ?? []
            if case .map(let pairs)? = node?["ignore_only"] { for (k, v) in pairs { c.ignoreOnly[k] = v.strings } }
            if lint {
                // v1: comment ignores are opt-in; v2: on unless disallowed.
                c.allowCommentIgnores = version == "v2" ? !(node?["disallow_comment_ignores"]?.bool ?? false) : (node?["allow_comment_ignores"]?.bool ?? false)
            }
            c.enumZeroValueSuffix = node?["enum_zero_value_suffix"]?.string ?? "_UNSPECIFIED"
            c.serviceSuffix = node?["service_suffix"]?.string ?? "Service"
            c.rpcAllowSameRequestResponse = node?["rpc_allow_same_request_response"]?.bool ?? false
            c.rpcAllowEmptyRequests = node?["rpc_allow_google_protobuf_empty_requests"]?.bool ?? false
            c.rpcAllowEmptyResponses = node?["rpc_allow_google_protobuf_empty_responses"]?.bool ?? false
            c.ignoreUnstablePackages = node?["ignore_unstable_packages"]?.bool ?? false
            return c
        }
        return BufConfig(version: version, modulePath: modulePath,
                         lint: section(lintNode, defaultUse: "STANDARD", lint: true),
                         breaking: section(breakingNode, defaultUse: "FILE", lint: false))
    }

    /// v2 ignore paths are relative to buf.yaml; make them relative to the module root.
    public func moduleRelative(_ path: String) -> String {
        guard version == "v2", modulePath != ".", path.hasPrefix(modulePath + "/") || path == modulePath else { return path }
        return path == modulePath ? "" : String(path.dropFirst(modulePath.count + 1))
    }
}
