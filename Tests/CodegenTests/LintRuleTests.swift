@testable import Codegen
import XCTest

/// One case per lint rule: a file that breaks it (message and location) and a
/// near miss that passes. Each runs with `use: [RULE_ID]`.
final class LintRuleTests: XCTestCase {
    func lint(_ rule: String, _ files: [String: String], extra: String = "") throws -> [Finding] {
        try Fixture.lint(files, config: "version: v2\nlint:\n  use: [\(rule)]\n\(extra)")
    }

    func assertFires(_ rule: String, _ files: [String: String], _ message: String, at: String, nearMiss: [String: String], extra: String = "", line: UInt = #line) throws {
        let f = try lint(rule, files, extra: extra)
        XCTAssertEqual(f.map(\.type), [rule], "\(rule): \(f.map(\.text))", line: line)
        XCTAssertEqual(f.first?.message, message, rule, line: line)
        if let first = f.first { XCTAssertEqual("\(first.path):\(first.startLine):\(first.startColumn)", at, rule, line: line) }
        let clean = try lint(rule, nearMiss, extra: extra)
        XCTAssertEqual(clean, [], "\(rule) near miss: \(clean.map(\.text))", line: line)
    }

    func file(_ body: String, package: String = "a.v1", path: String = "a/v1/a.proto", syntax: String? = "proto3") -> [String: String] {
        [path: (syntax.map { "syntax = \"\($0)\";\n" } ?? "\n") + "package \(package);\n" + body + "\n"]
    }

    func testNamingRules() throws {
        try assertFires("MESSAGE_PASCAL_CASE", file("message my_msg {}"), "Message name \"my_msg\" should be PascalCase, such as \"MyMsg\".", at: "a/v1/a.proto:3:9", nearMiss: file("message MyMSG {}"))
        try assertFires("ENUM_PASCAL_CASE", file("enum color {\n  COLOR_UNSPECIFIED = 0;\n}"), "Enum name \"color\" should be PascalCase, such as \"Color\".", at: "a/v1/a.proto:3:6", nearMiss: file("enum Color {\n  COLOR_UNSPECIFIED = 0;\n}"))
        try assertFires("FIELD_LOWER_SNAKE_CASE", file("message M {\n  string fooBar = 1;\n}"), "Field name \"fooBar\" should be lower_snake_case, such as \"foo_bar\".", at: "a/v1/a.proto:4:10", nearMiss: file("message M {\n  string foo_bar1 = 1;\n}"))
        try assertFires("ONEOF_LOWER_SNAKE_CASE", file("message M {\n  oneof Kind {\n    string a = 1;\n  }\n}"), "Oneof name \"Kind\" should be lower_snake_case, such as \"kind\".", at: "a/v1/a.proto:4:9", nearMiss: file("message M {\n  optional string A = 1;\n}"))
        try assertFires("ENUM_VALUE_UPPER_SNAKE_CASE", file("enum E {\n  E_unspecified = 0;\n}"), "Enum value name \"E_unspecified\" should be UPPER_SNAKE_CASE, such as \"E_UNSPECIFIED\".", at: "a/v1/a.proto:4:3", nearMiss: file("enum E {\n  E_UNSPECIFIED = 0;\n}"))
        try assertFires("SERVICE_PASCAL_CASE", file("service my_service {}"), "Service name \"my_service\" should be PascalCase, such as \"MyService\".", at: "a/v1/a.proto:3:9", nearMiss: file("service MyService {}"))
        try assertFires("RPC_PASCAL_CASE", file("message GetRequest {}\nmessage GetResponse {}\nservice S {\n  rpc get(GetRequest) returns (GetResponse);\n}"),
                        "RPC name \"get\" should be PascalCase, such as \"Get\".", at: "a/v1/a.proto:6:7", nearMiss: file("message GetRequest {}\nmessage GetResponse {}\nservice S {\n  rpc Get(GetRequest) returns (GetResponse);\n}"))
        try assertFires("PACKAGE_LOWER_SNAKE_CASE", file("", package: "a.fooBar.v1", path: "a/fooBar/v1/a.proto"), "Package name \"a.fooBar.v1\" should be lower_snake.case, such as \"a.foo_bar.v1\".", at: "a/fooBar/v1/a.proto:2:1",
                        nearMiss: file("", package: "a.foo_bar.v1", path: "a/foo_bar/v1/a.proto"))
        try assertFires("FILE_LOWER_SNAKE_CASE", file("", path: "a/v1/MyFile.proto"), "Filename \"MyFile.proto\" should be lower_snake_case.proto, such as \"my_file.proto\".", at: "a/v1/MyFile.proto:1:1", nearMiss: file("", path: "a/v1/my_file2.proto"))
    }

    func testEnumRules() throws {
        try assertFires("ENUM_VALUE_PREFIX", file("enum FooBar {\n  FOO_BAR_UNSPECIFIED = 0;\n  BAZ = 1;\n}"), "Enum value name \"BAZ\" should be prefixed with \"FOO_BAR_\".", at: "a/v1/a.proto:5:3",
                        nearMiss: file("enum FooBar {\n  FOO_BAR_UNSPECIFIED = 0;\n  FOO_BAR_BAZ = 1;\n}"))
        try assertFires("ENUM_ZERO_VALUE_SUFFIX", file("enum E {\n  E_NONE = 0;\n}"), "Enum zero value name \"E_NONE\" should be suffixed with \"_UNSPECIFIED\".", at: "a/v1/a.proto:4:3",
                        nearMiss: file("enum E {\n  E_UNSPECIFIED = 0;\n}"))
        try assertFires("ENUM_ZERO_VALUE_SUFFIX", file("enum E {\n  E_UNSPECIFIED = 0;\n}"), "Enum zero value name \"E_UNSPECIFIED\" should be suffixed with \"_NONE\".", at: "a/v1/a.proto:4:3",
                        nearMiss: file("enum E {\n  E_NONE = 0;\n}"), extra: "  enum_zero_value_suffix: _NONE\n")
        try assertFires("ENUM_NO_ALLOW_ALIAS", file("enum E {\n  option allow_alias = true;\n  E_UNSPECIFIED = 0;\n  E_ZERO = 0;\n}"), "Enum option \"allow_alias\" on enum \"E\" must be false.", at: "a/v1/a.proto:3:1",
                        nearMiss: file("enum E {\n  E_UNSPECIFIED = 0;\n}"))
        try assertFires("ENUM_FIRST_VALUE_ZERO", file("enum E {\n  E_ONE = 1;\n  E_UNSPECIFIED = 0;\n}", syntax: "proto2"), "First enum value \"E_ONE\" should have a numeric value of 0", at: "a/v1/a.proto:4:11",
                        nearMiss: file("enum E {\n  E_UNSPECIFIED = 0;\n  E_ONE = 1;\n}", syntax: "proto2"))
    }

    func testFileAndPackageRules() throws {
        try assertFires("PACKAGE_DIRECTORY_MATCH", file("", path: "x/a.proto"), "Files with package \"a.v1\" must be within a directory \"a/v1\" relative to root but were in directory \"x\".", at: "x/a.proto:2:1", nearMiss: file(""))
        try assertFires("PACKAGE_VERSION_SUFFIX", file("", package: "a", path: "a/a.proto"), "Package name \"a\" should be suffixed with a correctly formed version, such as \"a.v1\".", at: "a/a.proto:2:1",
                        nearMiss: file("", package: "a.v1beta1", path: "a/v1beta1/a.proto"))
        try assertFires("PACKAGE_DEFINED", ["a.proto": "syntax = \"proto3\";\nmessage M {}\n"], "Files must have a package defined.", at: "a.proto:1:1", nearMiss: file(""))
        try assertFires("SYNTAX_SPECIFIED", ["a/v1/a.proto": "package a.v1;\nmessage M {}\n"], "Files must have a syntax explicitly specified. If no syntax is specified, the file defaults to \"proto2\".", at: "a/v1/a.proto:1:1", nearMiss: file(""))
        let mixed = ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\n", "a/v1/b.proto": "syntax = \"proto3\";\npackage b.v1;\n"]
        let f = try lint("DIRECTORY_SAME_PACKAGE", mixed)
        XCTAssertEqual(f.map(\.message), Array(repeating: "Multiple packages \"a.v1,b.v1\" detected within directory \"a/v1\".", count: 2))
        XCTAssertEqual(try lint("DIRECTORY_SAME_PACKAGE", file("")), [])
        let split = ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\n", "b/v1/b.proto": "syntax = \"proto3\";\npackage a.v1;\n"]
        XCTAssertEqual(try lint("PACKAGE_SAME_DIRECTORY", split).map(\.message), Array(repeating: "Multiple directories \"a/v1,b/v1\" contain files with package \"a.v1\".", count: 2))
        XCTAssertEqual(try lint("PACKAGE_SAME_DIRECTORY", file("")), [])
        let goPkg = ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\noption go_package = \"x\";\n", "a/v1/b.proto": "syntax = \"proto3\";\npackage a.v1;\noption go_package = \"y\";\n"]
        XCTAssertEqual(try lint("PACKAGE_SAME_GO_PACKAGE", goPkg).map(\.message), Array(repeating: "Files in package \"a.v1\" have multiple values \"x,y\" for option \"go_package\" and all values must be equal.", count: 2))
        let oneUnset = ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\noption java_package = \"x\";\n", "a/v1/b.proto": "syntax = \"proto3\";\npackage a.v1;\n"]
        XCTAssertEqual(try lint("PACKAGE_SAME_JAVA_PACKAGE", oneUnset).first?.message, "Files in package \"a.v1\" have both values \"x\" and no value for option \"java_package\" and all values must be equal.")
        for rule in ["PACKAGE_SAME_CSHARP_NAMESPACE", "PACKAGE_SAME_JAVA_MULTIPLE_FILES", "PACKAGE_SAME_PHP_NAMESPACE", "PACKAGE_SAME_RUBY_PACKAGE", "PACKAGE_SAME_SWIFT_PREFIX"] {
            XCTAssertEqual(try lint(rule, ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\n", "a/v1/b.proto": "syntax = \"proto3\";\npackage a.v1;\n"]), [], rule)
        }
        XCTAssertEqual(try lint("PACKAGE_SAME_SWIFT_PREFIX", ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\noption swift_prefix = \"A\";\n", "a/v1/b.proto": "syntax = \"proto3\";\npackage a.v1;\noption swift_prefix = \"B\";\n"]).count, 2)
    }

    func testImportRules() throws {
        let unused = file("import \"google/protobuf/empty.proto\";\nmessage M {}")
        try assertFires("IMPORT_USED", unused, "Import \"google/protobuf/empty.proto\" is unused.", at: "a/v1/a.proto:3:1", nearMiss: file("import \"google/protobuf/empty.proto\";\nmessage M {\n  google.protobuf.Empty e = 1;\n}"))
        try assertFires("IMPORT_NO_PUBLIC", file("import public \"google/protobuf/empty.proto\";\nmessage M {}"), "Import \"google/protobuf/empty.proto\" must not be public.", at: "a/v1/a.proto:3:1",
                        nearMiss: file("import \"google/protobuf/empty.proto\";\nmessage M {\n  google.protobuf.Empty e = 1;\n}"))
        let cycle = ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\nimport \"b/v1/b.proto\";\nmessage A {\n  b.v1.B b = 1;\n}\n",
                     "b/v1/b.proto": "syntax = \"proto3\";\npackage b.v1;\nimport \"a/v1/c.proto\";\nmessage B {\n  a.v1.C c = 1;\n}\n",
                     "a/v1/c.proto": "syntax = \"proto3\";\npackage a.v1;\nmessage C {}\n"]
        XCTAssertEqual(Set(try lint("PACKAGE_NO_IMPORT_CYCLE", cycle).map(\.message)), ["Package import cycle: a.v1 -> b.v1 -> a.v1", "Package import cycle: b.v1 -> a.v1 -> b.v1"])
    }

    func testServiceAndRPCRules() throws {
        let good = "message GetRequest {}\nmessage GetResponse {}\nservice ThingService {\n  rpc Get(GetRequest) returns (GetResponse);\n}"
        try assertFires("SERVICE_SUFFIX", file(good.replacingOccurrences(of: "ThingService", with: "Things")), "Service name \"Things\" should be suffixed with \"Service\".", at: "a/v1/a.proto:5:9", nearMiss: file(good))
        try assertFires("SERVICE_SUFFIX", file(good), "Service name \"ThingService\" should be suffixed with \"API\".", at: "a/v1/a.proto:5:9",
                        nearMiss: file(good.replacingOccurrences(of: "ThingService", with: "ThingAPI")), extra: "  service_suffix: API\n")
        try assertFires("RPC_REQUEST_STANDARD_NAME", file(good.replacingOccurrences(of: "Get(GetRequest)", with: "Get(GetResponse)")), "RPC request type \"GetResponse\" should be named \"GetRequest\" or \"ThingServiceGetRequest\".", at: "a/v1/a.proto:6:11", nearMiss: file(good))
        try assertFires("RPC_RESPONSE_STANDARD_NAME", file(good.replacingOccurrences(of: "returns (GetResponse)", with: "returns (GetRequest)")), "RPC response type \"GetRequest\" should be named \"GetResponse\" or \"ThingServiceGetResponse\".", at: "a/v1/a.proto:6:32", nearMiss: file(good))
        try assertFires("RPC_NO_CLIENT_STREAMING", file(good.replacingOccurrences(of: "Get(GetRequest)", with: "Get(stream GetRequest)")), "RPC \"Get\" is client streaming.", at: "a/v1/a.proto:6:3", nearMiss: file(good))
        try assertFires("RPC_NO_SERVER_STREAMING", file(good.replacingOccurrences(of: "returns (GetResponse)", with: "returns (stream GetResponse)")), "RPC \"Get\" is server streaming.", at: "a/v1/a.proto:6:3", nearMiss: file(good))
        let shared = "message GetRequest {}\nmessage GetResponse {}\nservice ThingService {\n  rpc Get(GetRequest) returns (GetResponse);\n  rpc Put(GetRequest) returns (GetResponse);\n}"
        XCTAssertEqual(Set(try lint("RPC_REQUEST_RESPONSE_UNIQUE", file(shared)).map(\.message)), ["\"a.v1.GetRequest\" is used as the request or response type for multiple RPCs.", "\"a.v1.GetResponse\" is used as the request or response type for multiple RPCs."])
        XCTAssertEqual(try lint("RPC_REQUEST_RESPONSE_UNIQUE", file(good)), [])
        let empty = "import \"google/protobuf/empty.proto\";\nservice ThingService {\n  rpc Get(google.protobuf.Empty) returns (google.protobuf.Empty);\n}"
        XCTAssertEqual(try lint("RPC_REQUEST_RESPONSE_UNIQUE", file(empty)).first?.message, "RPC \"Get\" has the same type \"google.protobuf.Empty\" for the request and response.")
        XCTAssertEqual(try lint("RPC_REQUEST_RESPONSE_UNIQUE", file(empty), extra: "  rpc_allow_same_request_response: true\n"), [])
        XCTAssertEqual(try lint("RPC_REQUEST_STANDARD_NAME", file(empty), extra: "  rpc_allow_google_protobuf_empty_requests: true\n"), [])
        XCTAssertEqual(try lint("RPC_RESPONSE_STANDARD_NAME", file(empty), extra: "  rpc_allow_google_protobuf_empty_responses: true\n"), [])
    }

    func testFieldNotRequiredAndCommentRules() throws {
        try assertFires("FIELD_NOT_REQUIRED", file("message M {\n  required string a = 1;\n}", syntax: "proto2"), "Field named \"a\" should not be required.", at: "a/v1/a.proto:4:19",
                        nearMiss: file("message M {\n  optional string a = 1;\n}", syntax: "proto2"))
        let bare = "message M {\n  string a = 1;\n  oneof k {\n    string b = 2;\n  }\n}\nenum E {\n  E_UNSPECIFIED = 0;\n}\nservice S {\n  rpc G(M) returns (M);\n}"
        let documented = "// M.\nmessage M {\n  // a.\n  string a = 1;\n  // k.\n  oneof k {\n    // b.\n    string b = 2;\n  }\n}\n// E.\nenum E {\n  // zero.\n  E_UNSPECIFIED = 0;\n}\n// S.\nservice S {\n  // G.\n  rpc G(M) returns (M);\n}"
        let expected: [(String, String, String)] = [
            ("COMMENT_MESSAGE", "Message \"M\" should have a non-empty comment for documentation.", "a/v1/a.proto:3:1"),
            ("COMMENT_FIELD", "Field \"a\" should have a non-empty comment for documentation.", "a/v1/a.proto:4:3"),
            ("COMMENT_ONEOF", "Oneof \"k\" should have a non-empty comment for documentation.", "a/v1/a.proto:5:3"),
            ("COMMENT_ENUM", "Enum \"E\" should have a non-empty comment for documentation.", "a/v1/a.proto:9:1"),
            ("COMMENT_ENUM_VALUE", "Enum value \"E_UNSPECIFIED\" should have a non-empty comment for documentation.", "a/v1/a.proto:10:3"),
            ("COMMENT_SERVICE", "Service \"S\" should have a non-empty comment for documentation.", "a/v1/a.proto:12:1"),
            ("COMMENT_RPC", "RPC \"G\" should have a non-empty comment for documentation.", "a/v1/a.proto:13:3"),
        ]
        for (rule, message, at) in expected {
            let f = try lint(rule, file(bare))
            XCTAssertEqual(f.first?.message, message, rule)
            XCTAssertEqual(f.first.map { "\($0.path):\($0.startLine):\($0.startColumn)" }, at, rule)
            XCTAssertEqual(try lint(rule, file(documented)), [], rule)
        }
    }

    func testProtovalidateAndDeprecatedRulesAreAcceptedNoOps() throws {
        XCTAssertEqual(try lint("PROTOVALIDATE", file("message M {}")), [])
        XCTAssertEqual(try lint("IMPORT_NO_WEAK", file("message M {}")), [])
    }

    func testStablePackagesMayNotImportUnstableOnes() throws {
        let files = ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\nimport \"b/v1beta1/b.proto\";\nmessage A {\n  b.v1beta1.B b = 1;\n}\n",
                     "b/v1beta1/b.proto": "syntax = \"proto3\";\npackage b.v1beta1;\nmessage B {}\n"]
        XCTAssertEqual(try lint("STABLE_PACKAGE_NO_IMPORT_UNSTABLE", files).map(\.type), ["STABLE_PACKAGE_NO_IMPORT_UNSTABLE"])
    }

    func testPackageVersionForms() {
        for ok in ["v1", "v2", "v1alpha", "v1beta1", "v1p1alpha", "v1p2beta3", "v1test", "v1testfoo"] { XCTAssertTrue(LintRules.versionComponent(ok).valid, ok) }
        for bad in ["v0", "v", "version1", "v1alphabeta", "v1.1", "v01"] { XCTAssertFalse(LintRules.versionComponent(bad).valid, bad) }
        XCTAssertTrue(LintRules.isUnstablePackage("foo.v1beta1"))
        XCTAssertFalse(LintRules.isUnstablePackage("foo.v1"))
    }

    func testBufCaseHelpersMatchBufExamples() {
        XCTAssertEqual(BufCase.pascal("Foo_Bar"), "FooBar")
        XCTAssertEqual(BufCase.pascal("FOOBar"), "FOOBar")
        XCTAssertEqual(BufCase.pascal("fooBar"), "FooBar")
        XCTAssertEqual(BufCase.lowerSnake("fooBar"), "foo_bar")
        XCTAssertEqual(BufCase.lowerSnake("foo__bar"), "foo_bar")
        XCTAssertEqual(BufCase.lowerSnake("_foo"), "foo")
        XCTAssertEqual(BufCase.lowerSnake("HTTPServer"), "http_server")
        XCTAssertEqual(BufCase.lowerSnake("foo1bar"), "foo1bar")
        XCTAssertEqual(BufCase.upperSnake("FooBar"), "FOO_BAR")
    }
}
