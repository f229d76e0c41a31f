@testable import Codegen
import Foundation
import XCTest

/// Small fixture trees written to temporary directories.
enum Fixture {
    static func tree(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("check-\(UUID().uuidString)").path
        for (path, text) in files {
            let full = dir + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return dir
    }

    static func config(_ yaml: String) throws -> BufConfig { try BufConfig.parse(yaml) }

    static func breaking(before: [String: String], after: [String: String], config yaml: String = "version: v2\nbreaking:\n  use: [FILE]\n") throws -> [Finding] {
        let old = try tree(before), new = try tree(after)
        defer { try? FileManager.default.removeItem(atPath: old); try? FileManager.default.removeItem(atPath: new) }
        return try Checks.breaking(moduleRoot: new, against: old, config: try config(yaml))
    }

    static func lint(_ files: [String: String], config yaml: String = "version: v2\nlint:\n  use: [STANDARD]\n") throws -> [Finding] {
        let dir = try tree(files)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try Checks.lint(moduleRoot: dir, config: try config(yaml))
    }

    /// A proto3 file in package a.v1 with the given body.
    static func v1(_ body: String, syntax: String = "proto3", options: String = "") -> [String: String] {
        ["a/v1/a.proto": "syntax = \"\(syntax)\";\n\npackage a.v1;\n\(options)\n\(body)\n"]
    }
}
