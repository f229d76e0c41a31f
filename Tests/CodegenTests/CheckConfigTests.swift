@testable import Codegen
import Foundation
import XCTest

/// buf.yaml shapes and options, comment ignores, output formats, exit codes and inputs.
final class CheckConfigTests: XCTestCase {
    let bad = ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\nmessage m {}\n// buf:lint:ignore FIELD_LOWER_SNAKE_CASE\nmessage N {\n  string fooBar = 1;\n}\n"]

    func testV1ShapeParses() throws {
        let c = try BufConfig.parse("version: v1\nlint:\n  use:\n    - DEFAULT\n  except:\n    - FILE_LOWER_SNAKE_CASE\n  allow_comment_ignores: true\nbreaking:\n  use: [WIRE_JSON]\n  ignore_unstable_packages: true\n")
        XCTAssertEqual(c.version, "v1")
        XCTAssertEqual(c.lint.use, ["DEFAULT"])
        XCTAssertEqual(c.lint.except, ["FILE_LOWER_SNAKE_CASE"])
        XCTAssertTrue(c.lint.allowCommentIgnores)
        XCTAssertEqual(c.breaking.use, ["WIRE_JSON"])
        XCTAssertTrue(c.breaking.ignoreUnstablePackages)
    }

    func testV2ShapeWithModulesAndPerModuleOverrides() throws {
        let c = try BufConfig.parse("version: v2\nmodules:\n  - path: proto\n    lint:\n      use: [BASIC]\nlint:\n  use: [STANDARD]\n  ignore_only:\n    ENUM_ZERO_VALUE_SUFFIX:\n      - proto/foo/bar.proto\nbreaking:\n  use: [FILE]\n")
        XCTAssertEqual(c.modulePath, "proto")
        XCTAssertEqual(c.lint.use, ["BASIC"])
        XCTAssertEqual(try BufConfig.parse("version: v2\nmodules:\n  - path: proto\nlint:\n  use: [STANDARD]\n  ignore_only:\n    ENUM_ZERO_VALUE_SUFFIX:\n      - proto/foo/bar.proto\n").lint.ignoreOnly, ["ENUM_ZERO_VALUE_SUFFIX": ["proto/foo/bar.proto"]])
        XCTAssertEqual(c.moduleRelative("proto/foo/bar.proto"), "foo/bar.proto")
    }

    func testUnknownRuleNamesAreAConfigurationError() {
        XCTAssertThrowsError(try Fixture.lint(bad, config: "version: v2\nlint:\n  use: [NOT_A_RULE]\n")) { error in
            XCTAssertEqual("\(error)", "configuration error: unknown rule or category \"NOT_A_RULE\"")
        }
    }

    func testCategoriesExpandAndExceptRemoves() throws {
        let basic = try Fixture.lint(bad, config: "version: v2\nlint:\n  use: [BASIC]\n  disallow_comment_ignores: true\n")
        XCTAssertEqual(Set(basic.map(\.type)), ["MESSAGE_PASCAL_CASE", "FIELD_LOWER_SNAKE_CASE"])
        let except = try Fixture.lint(bad, config: "version: v2\nlint:\n  use: [BASIC]\n  except: [MESSAGE_PASCAL_CASE]\n  disallow_comment_ignores: true\n")
        XCTAssertEqual(except.map(\.type), ["FIELD_LOWER_SNAKE_CASE"])
        XCTAssertEqual(try Fixture.lint(bad, config: "version: v2\nlint:\n  use: [MINIMAL]\n"), [])
    }

    func testCommentIgnoresAreOnInV2AndOptInForV1() throws {
        XCTAssertEqual(try Fixture.lint(bad, config: "version: v2\nlint:\n  use: [FIELD_LOWER_SNAKE_CASE]\n"), [])
        XCTAssertEqual(try Fixture.lint(bad, config: "version: v2\nlint:\n  use: [FIELD_LOWER_SNAKE_CASE]\n  disallow_comment_ignores: true\n").count, 1)
        XCTAssertEqual(try Fixture.lint(bad, config: "version: v1\nlint:\n  use: [FIELD_LOWER_SNAKE_CASE]\n").count, 1)
        XCTAssertEqual(try Fixture.lint(bad, config: "version: v1\nlint:\n  use: [FIELD_LOWER_SNAKE_CASE]\n  allow_comment_ignores: true\n"), [])
    }

    func testIgnoreAndIgnoreOnly() throws {
        let two = bad.merging(["b/v1/b.proto": "syntax = \"proto3\";\npackage b.v1;\nmessage x {}\n"]) { $1 }
        XCTAssertEqual(try Fixture.lint(two, config: "version: v2\nlint:\n  use: [MESSAGE_PASCAL_CASE]\n  ignore: [a]\n").map(\.path), ["b/v1/b.proto"])
        XCTAssertEqual(try Fixture.lint(two, config: "version: v2\nlint:\n  use: [MESSAGE_PASCAL_CASE]\n  ignore_only:\n    MESSAGE_PASCAL_CASE: [b/v1/b.proto]\n").map(\.path), ["a/v1/a.proto"])
        XCTAssertEqual(try Fixture.lint(two, config: "version: v2\nlint:\n  use: [BASIC]\n  ignore_only:\n    BASIC: [a, b]\n"), [])
    }

    func testIgnoreUnstablePackagesDropsBreakingFindingsThere() throws {
        let before = ["a/v1beta1/a.proto": "syntax = \"proto3\";\npackage a.v1beta1;\nmessage M {\n  string a = 1;\n}\n"]
        let after = ["a/v1beta1/a.proto": "syntax = \"proto3\";\npackage a.v1beta1;\nmessage M {}\n"]
        XCTAssertEqual(try Fixture.breaking(before: before, after: after).map(\.type), ["FIELD_NO_DELETE"])
        XCTAssertEqual(try Fixture.breaking(before: before, after: after, config: "version: v2\nbreaking:\n  use: [FILE]\n  ignore_unstable_packages: true\n"), [])
    }

    func testTextAndJSONOutputAndExitCodes() throws {
        let f = try Fixture.lint(bad, config: "version: v2\nlint:\n  use: [MESSAGE_PASCAL_CASE]\n")
        XCTAssertEqual(Checks.format(f, json: false), "a/v1/a.proto:3:9:Message name \"m\" should be PascalCase, such as \"M\".\n")
        XCTAssertEqual(Checks.format(f, json: true), #"{"path":"a/v1/a.proto","start_line":3,"start_column":9,"end_line":3,"end_column":10,"type":"MESSAGE_PASCAL_CASE","message":"Message name \"m\" should be PascalCase, such as \"M\"."}"# + "\n")
        XCTAssertEqual(Checks.exitCode(f), 100)
        XCTAssertEqual(Checks.exitCode([]), 0)
    }

    func testAgainstAGitRef() throws {
        let repo = try Fixture.tree(["proto/a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\nmessage M {\n  string a = 1;\n}\n"])
        defer { try? FileManager.default.removeItem(atPath: repo) }
        func git(_ args: String...) throws {
            let r = try Protoc.run("/usr/bin/env", ["git", "-C", repo, "-c", "user.email=t@t", "-c", "user.name=t"] + args)
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        try git("init", "-q", "-b", "main")
        try git("add", "-A")
        try git("commit", "-qm", "base")
        try "syntax = \"proto3\";\npackage a.v1;\nmessage M {}\n".write(toFile: repo + "/proto/a/v1/a.proto", atomically: true, encoding: .utf8)
        let config = try BufConfig.parse("version: v2\nmodules:\n  - path: proto\nbreaking:\n  use: [FILE]\n")
        let f = try Checks.breaking(moduleRoot: repo + "/proto", against: repo + "/.git#branch=main", config: config)
        XCTAssertEqual(f.map(\.type), ["FIELD_NO_DELETE"])
        XCTAssertThrowsError(try Checks.breaking(moduleRoot: repo + "/proto", against: repo + "/.git#branch=nope", config: config))
    }
}
