@testable import Codegen
import XCTest

/// One fixture pair per breaking rule: `after` makes the rule fire with buf's
/// message at the expected location; `nearMiss` is a similar change it must
/// not flag. Each case runs with `use: [RULE_ID]` so only that rule is active.
final class BreakingRuleTests: XCTestCase {
    struct Case {
        let rule: String
        let before: [String: String]
        let after: [String: String]
        let message: String
        let at: String  // "path:line:column"
        var nearMiss: [String: String]? = nil
        var version = "v2"
    }

    func v1(_ body: String, syntax: String = "proto3", options: String = "") -> [String: String] { Fixture.v1(body, syntax: syntax, options: options) }

    func run(_ c: Case, file: StaticString = #filePath, line: UInt = #line) throws {
        let yaml = "version: \(c.version)\nbreaking:\n  use: [\(c.rule)]\n"
        let findings = try Fixture.breaking(before: c.before, after: c.after, config: yaml)
        XCTAssertEqual(findings.map(\.type), [c.rule], "\(c.rule): \(findings.map(\.text))", file: file, line: line)
        XCTAssertEqual(findings.first?.message, c.message, c.rule, file: file, line: line)
        if let f = findings.first { XCTAssertEqual("\(f.path):\(f.startLine):\(f.startColumn)", c.at, c.rule, file: file, line: line) }
        if let miss = c.nearMiss {
            let clean = try Fixture.breaking(before: c.before, after: miss, config: yaml)
            XCTAssertEqual(clean, [], "\(c.rule) near miss flagged: \(clean.map(\.text))", file: file, line: line)
        }
    }

    let msg = "message M {\n  string a = 1;\n  int32 b = 2;\n}"

    func testFileNoDelete() throws {
        try run(Case(rule: "FILE_NO_DELETE", before: v1(msg).merging(["a/v1/b.proto": "syntax = \"proto3\";\npackage a.v1;\n"]) { $1 }, after: v1(msg),
                     message: "Previously present file \"a/v1/b.proto\" was deleted.", at: "a/v1/b.proto:1:1", nearMiss: v1(msg).merging(["a/v1/b.proto": "syntax = \"proto3\";\npackage a.v1;\nmessage N {}\n"]) { $1 }))
    }

    func testFileSamePackage() throws {
        try run(Case(rule: "FILE_SAME_PACKAGE", before: v1(msg), after: ["a/v1/a.proto": "syntax = \"proto3\";\n\npackage a.v2;\n\n" + msg],
                     message: "File package changed from \"a.v1\" to \"a.v2\".", at: "a/v1/a.proto:3:1", nearMiss: v1(msg + "\nmessage N {}")))
    }

    func testFileSameSyntax() throws {
        try run(Case(rule: "FILE_SAME_SYNTAX", before: v1(msg), after: v1(msg, syntax: "proto2").mapValues { $0.replacingOccurrences(of: "  string a", with: "  optional string a").replacingOccurrences(of: "  int32 b", with: "  optional int32 b") },
                     message: "File syntax changed from \"proto3\" to \"proto2\".", at: "a/v1/a.proto:1:1", nearMiss: v1(msg)))
    }

    func testEveryFileOptionRule() throws {
        let cases: [(String, String, String, String)] = [
            ("FILE_SAME_JAVA_PACKAGE", "option java_package = \"x\";", "java_package", "\"\" to \"x\""),
            ("FILE_SAME_JAVA_OUTER_CLASSNAME", "option java_outer_classname = \"X\";", "java_outer_classname", "\"\" to \"X\""),
            ("FILE_SAME_JAVA_MULTIPLE_FILES", "option java_multiple_files = true;", "java_multiple_files", "\"false\" to \"true\""),
            ("FILE_SAME_GO_PACKAGE", "option go_package = \"x/y\";", "go_package", "\"\" to \"x/y\""),
            ("FILE_SAME_CC_GENERIC_SERVICES", "option cc_generic_services = true;", "cc_generic_services", "\"false\" to \"true\""),
            ("FILE_SAME_JAVA_GENERIC_SERVICES", "option java_generic_services = true;", "java_generic_services", "\"false\" to \"true\""),
            ("FILE_SAME_PY_GENERIC_SERVICES", "option py_generic_services = true;", "py_generic_services", "\"false\" to \"true\""),
            ("FILE_SAME_CC_ENABLE_ARENAS", "option cc_enable_arenas = false;", "cc_enable_arenas", "\"true\" to \"false\""),
            ("FILE_SAME_OBJC_CLASS_PREFIX", "option objc_class_prefix = \"AX\";", "objc_class_prefix", "\"\" to \"AX\""),
            ("FILE_SAME_CSHARP_NAMESPACE", "option csharp_namespace = \"A.V1\";", "csharp_namespace", "\"\" to \"A.V1\""),
            ("FILE_SAME_SWIFT_PREFIX", "option swift_prefix = \"AV\";", "swift_prefix", "\"\" to \"AV\""),
            ("FILE_SAME_PHP_CLASS_PREFIX", "option php_class_prefix = \"AV\";", "php_class_prefix", "\"\" to \"AV\""),
            ("FILE_SAME_PHP_NAMESPACE", "option php_namespace = \"A\\\\V1\";", "php_namespace", "\"\" to \"A\\\\V1\""),  // Go %q escapes the backslash
            ("FILE_SAME_PHP_METADATA_NAMESPACE", "option php_metadata_namespace = \"M\";", "php_metadata_namespace", "\"\" to \"M\""),
            ("FILE_SAME_RUBY_PACKAGE", "option ruby_package = \"A::V1\";", "ruby_package", "\"\" to \"A::V1\""),
            ("FILE_SAME_OPTIMIZE_FOR", "option optimize_for = CODE_SIZE;", "optimize_for", "\"SPEED\" to \"CODE_SIZE\""),
        ]
        for (rule, option, name, change) in cases {
            try run(Case(rule: rule, before: v1(msg), after: v1(msg, options: option), message: "File option \"\(name)\" changed from \(change).",
                         at: "a/v1/a.proto:4:1", nearMiss: v1(msg + "\nmessage Unrelated {}")))
        }
    }

    func testMessageNoDelete() throws {
        try run(Case(rule: "MESSAGE_NO_DELETE", before: v1(msg + "\nmessage N {\n  message Inner {}\n}"), after: v1(msg + "\nmessage N {}"),
                     message: "Previously present message \"N.Inner\" was deleted from file.", at: "a/v1/a.proto:9:1", nearMiss: v1(msg + "\nmessage N {\n  message Inner {}\n  message More {}\n}")))
    }

    func testEnumNoDelete() throws {
        try run(Case(rule: "ENUM_NO_DELETE", before: v1(msg + "\nenum E {\n  E_UNSPECIFIED = 0;\n}"), after: v1(msg),
                     message: "Previously present enum \"E\" was deleted from file.", at: "a/v1/a.proto:1:1", nearMiss: v1(msg + "\nenum E {\n  E_UNSPECIFIED = 0;\n  E_ONE = 1;\n}")))
    }

    let service = "message Req {}\nmessage Res {}\nservice S {\n  rpc Get(Req) returns (Res);\n}"

    func testServiceNoDelete() throws {
        try run(Case(rule: "SERVICE_NO_DELETE", before: v1(service), after: v1("message Req {}\nmessage Res {}"),
                     message: "Previously present service \"S\" was deleted from file.", at: "a/v1/a.proto:1:1", nearMiss: v1(service + "\nservice T {}")))
    }

    func testRPCRules() throws {
        try run(Case(rule: "RPC_NO_DELETE", before: v1(service), after: v1("message Req {}\nmessage Res {}\nservice S {}"),
                     message: "Previously present RPC \"Get\" on service \"S\" was deleted.", at: "a/v1/a.proto:7:1",
                     nearMiss: v1("message Req {}\nmessage Res {}\nservice S {\n  rpc Get(Req) returns (Res);\n  rpc Other(Req) returns (Res);\n}")))
        try run(Case(rule: "RPC_SAME_CLIENT_STREAMING", before: v1(service), after: v1(service.replacingOccurrences(of: "Get(Req)", with: "Get(stream Req)")),
                     message: "RPC \"Get\" on service \"S\" changed from client unary to client streaming.", at: "a/v1/a.proto:8:3",
                     nearMiss: v1(service.replacingOccurrences(of: "returns (Res)", with: "returns (stream Res)"))))
        try run(Case(rule: "RPC_SAME_SERVER_STREAMING", before: v1(service), after: v1(service.replacingOccurrences(of: "returns (Res)", with: "returns (stream Res)")),
                     message: "RPC \"Get\" on service \"S\" changed from server unary to server streaming.", at: "a/v1/a.proto:8:3",
                     nearMiss: v1(service.replacingOccurrences(of: "Get(Req)", with: "Get(stream Req)"))))
        try run(Case(rule: "RPC_SAME_REQUEST_TYPE", before: v1(service), after: v1(service.replacingOccurrences(of: "Get(Req)", with: "Get(Res)")),
                     message: "RPC \"Get\" on service \"S\" changed request type from \"a.v1.Req\" to \"a.v1.Res\".", at: "a/v1/a.proto:8:11",
                     nearMiss: v1(service.replacingOccurrences(of: "returns (Res)", with: "returns (Req)"))))
        try run(Case(rule: "RPC_SAME_RESPONSE_TYPE", before: v1(service), after: v1(service.replacingOccurrences(of: "returns (Res)", with: "returns (Req)")),
                     message: "RPC \"Get\" on service \"S\" changed response type from \"a.v1.Res\" to \"a.v1.Req\".", at: "a/v1/a.proto:8:25",
                     nearMiss: v1(service.replacingOccurrences(of: "Get(Req)", with: "Get(Res)"))))
        try run(Case(rule: "RPC_SAME_IDEMPOTENCY_LEVEL", before: v1(service),
                     after: v1(service.replacingOccurrences(of: "returns (Res);", with: "returns (Res) { option idempotency_level = NO_SIDE_EFFECTS; }")),
                     message: "RPC \"Get\" on service \"S\" changed option \"idempotency_level\" from \"IDEMPOTENCY_UNKNOWN\" to \"NO_SIDE_EFFECTS\".", at: "a/v1/a.proto:8:3",
                     nearMiss: v1(service.replacingOccurrences(of: "returns (Res);", with: "returns (Res) { option deprecated = true; }"))))
    }

    func testFieldNoDeleteAndItsReservedVariants() throws {
        let after = v1("message M {\n  string a = 1;\n}")
        try run(Case(rule: "FIELD_NO_DELETE", before: v1(msg), after: after,
                     message: "Previously present field \"2\" with name \"b\" on message \"M\" was deleted.", at: "a/v1/a.proto:5:1", nearMiss: v1(msg + "\nmessage N {}")))
        // A reserved number and name pass the wire rules but still fail FIELD_NO_DELETE.
        let reserved = v1("message M {\n  reserved 2;\n  reserved \"b\";\n  string a = 1;\n}")
        XCTAssertEqual(try Fixture.breaking(before: v1(msg), after: reserved).map(\.type), ["FIELD_NO_DELETE"])
        try run(Case(rule: "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED", before: v1(msg), after: after,
                     message: "Previously present field \"2\" with name \"b\" on message \"M\" was deleted without reserving the number \"2\".", at: "a/v1/a.proto:5:1",
                     nearMiss: v1("message M {\n  reserved 2;\n  string a = 1;\n}")))
        try run(Case(rule: "FIELD_NO_DELETE_UNLESS_NAME_RESERVED", before: v1(msg), after: after,
                     message: "Previously present field \"2\" with name \"b\" on message \"M\" was deleted without reserving the name \"b\".", at: "a/v1/a.proto:5:1",
                     nearMiss: v1("message M {\n  reserved \"b\";\n  string a = 1;\n}")))
    }

    func testFieldSameName() throws {
        try run(Case(rule: "FIELD_SAME_NAME", before: v1(msg), after: v1(msg.replacingOccurrences(of: "int32 b = 2", with: "int32 c = 2")),
                     message: "Field \"2\" on message \"M\" changed name from \"b\" to \"c\".", at: "a/v1/a.proto:7:9", nearMiss: v1(msg.replacingOccurrences(of: "int32 b = 2", with: "int32 b = 2 [deprecated = true]"))))
    }

    func testFieldSameJSONName() throws {
        try run(Case(rule: "FIELD_SAME_JSON_NAME", before: v1(msg), after: v1(msg.replacingOccurrences(of: "int32 b = 2", with: "int32 b = 2 [json_name = \"bee\"]")),
                     message: "Field \"2\" with name \"b\" on message \"M\" changed option \"json_name\" from \"b\" to \"bee\".", at: "a/v1/a.proto:7:16",
                     nearMiss: v1(msg.replacingOccurrences(of: "int32 b = 2", with: "int32 b = 2 [json_name = \"b\"]"))))
    }

    func testFieldSameTypeAndWireCompatibleTypes() throws {
        let toInt64 = v1(msg.replacingOccurrences(of: "int32 b", with: "int64 b"))
        let toString = v1(msg.replacingOccurrences(of: "int32 b", with: "string b"))
        try run(Case(rule: "FIELD_SAME_TYPE", before: v1(msg), after: toInt64,
                     message: "Field \"2\" with name \"b\" on message \"M\" changed type from \"int32\" to \"int64\".", at: "a/v1/a.proto:7:3", nearMiss: v1(msg + "\nmessage N {}")))
        try run(Case(rule: "FIELD_WIRE_COMPATIBLE_TYPE", before: v1(msg), after: toString,
                     message: "Field \"2\" with name \"b\" on message \"M\" changed type from \"int32\" to \"string\". See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules.",
                     at: "a/v1/a.proto:7:3", nearMiss: toInt64))
        try run(Case(rule: "FIELD_WIRE_JSON_COMPATIBLE_TYPE", before: v1(msg), after: toInt64,
                     message: "Field \"2\" with name \"b\" on message \"M\" changed type from \"int32\" to \"int64\". See https://developers.google.com/protocol-buffers/docs/proto3#updating for wire compatibility rules and https://developers.google.com/protocol-buffers/docs/proto3#json for JSON compatibility rules.",
                     at: "a/v1/a.proto:7:3", nearMiss: v1(msg.replacingOccurrences(of: "int32 b", with: "uint32 b"))))
        // string -> bytes is wire compatible; bytes -> string is not.
        XCTAssertEqual(try Fixture.breaking(before: v1(msg), after: v1(msg.replacingOccurrences(of: "string a", with: "bytes a")), config: "version: v2\nbreaking:\n  use: [WIRE]\n"), [])
    }

    func testFieldSameCardinalityAndWireCompatibleCardinalities() throws {
        let optional = v1(msg.replacingOccurrences(of: "int32 b", with: "optional int32 b"))
        let repeated = v1(msg.replacingOccurrences(of: "int32 b", with: "repeated int32 b"))
        try run(Case(rule: "FIELD_SAME_CARDINALITY", before: v1(msg), after: optional,
                     message: "Field \"2\" with name \"b\" on message \"M\" changed cardinality from \"optional with implicit presence\" to \"optional with explicit presence\".",
                     at: "a/v1/a.proto:7:3", nearMiss: v1(msg + "\nmessage N {}")))
        try run(Case(rule: "FIELD_WIRE_COMPATIBLE_CARDINALITY", before: v1(msg), after: repeated,
                     message: "Field \"2\" with name \"b\" on message \"M\" changed cardinality from \"optional with implicit presence\" to \"repeated\".", at: "a/v1/a.proto:7:3", nearMiss: optional))
        let mapBefore = v1("message M {\n  message E {\n    string key = 1;\n    string value = 2;\n  }\n  repeated E m = 1;\n}")
        let mapAfter = v1("message M {\n  message E {\n    string key = 1;\n    string value = 2;\n  }\n  map<string, string> m = 1;\n}")
        try run(Case(rule: "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY", before: mapBefore, after: mapAfter,
                     message: "Field \"1\" with name \"m\" on message \"M\" changed cardinality from \"repeated\" to \"map\".", at: "a/v1/a.proto:10:3",
                     nearMiss: mapBefore))
    }

    func testFieldSameOneof() throws {
        let inOneof = v1("message M {\n  string a = 1;\n  oneof k {\n    int32 b = 2;\n  }\n}")
        try run(Case(rule: "FIELD_SAME_ONEOF", before: v1(msg), after: inOneof,
                     message: "Field \"2\" with name \"b\" on message \"M\" moved from outside to inside a oneof.", at: "a/v1/a.proto:8:5",
                     nearMiss: v1(msg.replacingOccurrences(of: "int32 b", with: "optional int32 b"))))
    }

    func testFieldSameJSType() throws {
        let base = v1("message M {\n  int64 a = 1;\n}")
        try run(Case(rule: "FIELD_SAME_JSTYPE", before: base, after: v1("message M {\n  int64 a = 1 [jstype = JS_STRING];\n}"),
                     message: "Field \"1\" with name \"a\" on message \"M\" changed option \"jstype\" from \"JS_NORMAL\" to \"JS_STRING\".", at: "a/v1/a.proto:6:3",
                     nearMiss: v1("message M {\n  int64 a = 1 [jstype = JS_NORMAL];\n}")))
    }

    func testProto2OnlyFieldRules() throws {
        let p2 = "message M {\n  optional string a = 1;\n}"
        try run(Case(rule: "FIELD_SAME_CPP_STRING_TYPE", before: v1(p2, syntax: "proto2"), after: v1("message M {\n  optional string a = 1 [ctype = CORD];\n}", syntax: "proto2"),
                     message: "Field \"1\" with name \"a\" on message \"M\" changed C++ string type from \"STRING\" to \"CORD\".", at: "a/v1/a.proto:6:3",
                     nearMiss: v1("message M {\n  optional string a = 1 [ctype = STRING];\n}", syntax: "proto2")))
        try run(Case(rule: "FIELD_SAME_DEFAULT", before: v1(p2, syntax: "proto2"), after: v1("message M {\n  optional string a = 1 [default = \"x\"];\n}", syntax: "proto2"),
                     message: "Field \"1\" with name \"a\" on message \"M\" changed default value from none to x.", at: "a/v1/a.proto:6:3",
                     nearMiss: v1("message M {\n  optional string a = 1 [deprecated = true];\n}", syntax: "proto2")))
        try run(Case(rule: "MESSAGE_SAME_REQUIRED_FIELDS", before: v1(p2, syntax: "proto2"), after: v1("message M {\n  optional string a = 1;\n  required int32 b = 2;\n}", syntax: "proto2"),
                     message: "Message \"M\" had required field \"2\" added. Required fields must always be sent, so if one side does not know about the required field, this will result in a breakage.",
                     at: "a/v1/a.proto:7:3", nearMiss: v1("message M {\n  optional string a = 1;\n  optional int32 b = 2;\n}", syntax: "proto2")))
        try run(Case(rule: "EXTENSION_MESSAGE_NO_DELETE", before: v1("message M {\n  extensions 100 to 200;\n}", syntax: "proto2"), after: v1("message M {\n  extensions 100 to 150;\n}", syntax: "proto2"),
                     message: "Previously present extension range \"[100,200]\" on message \"M\" is missing values: [151,200] were removed.", at: "a/v1/a.proto:5:1",
                     nearMiss: v1("message M {\n  extensions 100 to 150;\n  extensions 151 to 300;\n}", syntax: "proto2")))
        let ext = "message M {\n  extensions 100 to 200;\n}\nextend M {\n  optional string x = 100;\n}"
        try run(Case(rule: "EXTENSION_NO_DELETE", before: v1(ext, syntax: "proto2"), after: v1("message M {\n  extensions 100 to 200;\n}", syntax: "proto2"),
                     message: "Previously present extension \"x\" was deleted from file.", at: "a/v1/a.proto:1:1",
                     nearMiss: v1(ext + "\nextend M {\n  optional string y = 101;\n}", syntax: "proto2")))
        try run(Case(rule: "PACKAGE_EXTENSION_NO_DELETE", before: v1(ext, syntax: "proto2"), after: v1("message M {\n  extensions 100 to 200;\n}", syntax: "proto2"),
                     message: "Previously present extension \"x\" was deleted from package \"a.v1\".", at: "a/v1/a.proto:1:1",
                     nearMiss: ["a/v1/a.proto": "syntax = \"proto2\";\npackage a.v1;\nmessage M {\n  extensions 100 to 200;\n}\n", "a/v1/b.proto": "syntax = \"proto2\";\npackage a.v1;\nimport \"a/v1/a.proto\";\nextend M {\n  optional string x = 100;\n}\n"]))
    }

    func testSyntaxChangeRules() throws {
        let e = "enum E {\n  E_UNSPECIFIED = 0;\n}\nmessage M {\n  string a = 1;\n}"
        let p2 = v1("enum E {\n  E_UNSPECIFIED = 0;\n}\nmessage M {\n  optional string a = 1;\n}", syntax: "proto2")
        try run(Case(rule: "ENUM_SAME_TYPE", before: v1(e), after: p2, message: "Enum \"E\" changed from open to closed.", at: "a/v1/a.proto:5:1", nearMiss: v1(e + "\nmessage N {}")))
        try run(Case(rule: "ENUM_SAME_JSON_FORMAT", before: v1(e), after: p2, message: "Enum \"E\" JSON format support changed from ALLOW to LEGACY_BEST_EFFORT.", at: "a/v1/a.proto:5:1", nearMiss: v1(e + "\nmessage N {}")))
        try run(Case(rule: "MESSAGE_SAME_JSON_FORMAT", before: v1(e), after: p2, message: "Message \"M\" JSON format support changed from ALLOW to LEGACY_BEST_EFFORT.", at: "a/v1/a.proto:8:1", nearMiss: v1(e + "\nmessage N {}")))
        try run(Case(rule: "FIELD_SAME_UTF8_VALIDATION", before: v1(e), after: p2, message: "Field \"1\" with name \"a\" on message \"M\" changed UTF8 validation from VERIFY to NONE.", at: "a/v1/a.proto:9:3", nearMiss: v1(e + "\nmessage N {}")))
        try run(Case(rule: "FIELD_SAME_JAVA_UTF8_VALIDATION", before: v1(e), after: v1(e, options: "option java_string_check_utf8 = true;"),
                     message: "Field \"1\" with name \"a\" on message \"M\" changed Java string UTF8 validation from \"DEFAULT\" to \"VERIFY\".", at: "a/v1/a.proto:9:3",
                     nearMiss: v1(e, options: "option java_string_check_utf8 = false;")))
    }

    func testMessageNoRemoveStandardDescriptorAccessor() throws {
        try run(Case(rule: "MESSAGE_NO_REMOVE_STANDARD_DESCRIPTOR_ACCESSOR", before: v1(msg), after: v1("message M {\n  option no_standard_descriptor_accessor = true;\n  string a = 1;\n  int32 b = 2;\n}"),
                     message: "Message option \"no_standard_descriptor_accessor\" changed from \"false\" to \"true\".", at: "a/v1/a.proto:5:1",
                     nearMiss: v1("message M {\n  option no_standard_descriptor_accessor = false;\n  string a = 1;\n  int32 b = 2;\n}")))
    }

    func testOneofNoDelete() throws {
        let withOneof = v1("message M {\n  oneof k {\n    string a = 1;\n  }\n}")
        try run(Case(rule: "ONEOF_NO_DELETE", before: withOneof, after: v1("message M {\n  string a = 1;\n}"),
                     message: "Previously present oneof \"k\" on message \"M\" was deleted.", at: "a/v1/a.proto:5:1",
                     nearMiss: v1("message M {\n  oneof k {\n    string a = 1;\n    int32 b = 2;\n  }\n}")))
        // A synthetic oneof (proto3 optional) disappearing is not a deleted oneof.
        XCTAssertEqual(try Fixture.breaking(before: v1("message M {\n  optional string a = 1;\n}"), after: v1("message M {\n  string a = 1;\n}"), config: "version: v2\nbreaking:\n  use: [ONEOF_NO_DELETE]\n"), [])
    }

    let enumBody = "enum E {\n  E_UNSPECIFIED = 0;\n  E_ONE = 1;\n}"

    func testEnumValueRules() throws {
        let deleted = v1("enum E {\n  E_UNSPECIFIED = 0;\n}")
        try run(Case(rule: "ENUM_VALUE_NO_DELETE", before: v1(enumBody), after: deleted,
                     message: "Previously present enum value \"1\" on enum \"E\" was deleted.", at: "a/v1/a.proto:5:1", nearMiss: v1(enumBody.replacingOccurrences(of: "}", with: "  E_TWO = 2;\n}"))))
        try run(Case(rule: "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED", before: v1(enumBody), after: deleted,
                     message: "Previously present enum value \"1\" on enum \"E\" was deleted without reserving the number \"1\".", at: "a/v1/a.proto:5:1",
                     nearMiss: v1("enum E {\n  reserved 1;\n  E_UNSPECIFIED = 0;\n}")))
        try run(Case(rule: "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED", before: v1(enumBody), after: deleted,
                     message: "Previously present enum value \"1\" on enum \"E\" was deleted without reserving the name \"E_ONE\".", at: "a/v1/a.proto:5:1",
                     nearMiss: v1("enum E {\n  reserved \"E_ONE\";\n  E_UNSPECIFIED = 0;\n}")))
        try run(Case(rule: "ENUM_VALUE_SAME_NAME", before: v1(enumBody), after: v1(enumBody.replacingOccurrences(of: "E_ONE", with: "E_UNO")),
                     message: "Enum value \"1\" on enum \"E\" changed name from \"E_ONE\" to \"E_UNO\".", at: "a/v1/a.proto:7:11",
                     nearMiss: v1("enum E {\n  option allow_alias = true;\n  E_UNSPECIFIED = 0;\n  E_ONE = 1;\n  E_UNO = 1;\n}").mapValues { $0 }))
    }

    func testReservedRules() throws {
        let before = v1("message M {\n  reserved 5 to 10, 20;\n  reserved \"x\";\n}\nenum E {\n  E_UNSPECIFIED = 0;\n  reserved 5 to max;\n  reserved \"Y\";\n}")
        let mergedOK = v1("message M {\n  reserved 5, 6 to 10, 20 to 30;\n  reserved \"x\";\n}\nenum E {\n  E_UNSPECIFIED = 0;\n  reserved 5 to max;\n  reserved \"Y\";\n}")
        try run(Case(rule: "RESERVED_MESSAGE_NO_DELETE", before: before,
                     after: v1("message M {\n  reserved 5 to 7, 20;\n  reserved \"x\";\n}\nenum E {\n  E_UNSPECIFIED = 0;\n  reserved 5 to max;\n  reserved \"Y\";\n}"),
                     message: "Previously present reserved range \"[5,10]\" on message \"M\" is missing values: [8,10] were removed.", at: "a/v1/a.proto:5:1", nearMiss: mergedOK))
        try run(Case(rule: "RESERVED_ENUM_NO_DELETE", before: before,
                     after: v1("message M {\n  reserved 5 to 10, 20;\n  reserved \"x\";\n}\nenum E {\n  E_UNSPECIFIED = 0;\n  reserved 5 to max;\n}"),
                     message: "Previously present reserved name \"Y\" on enum \"E\" was deleted.", at: "a/v1/a.proto:9:1", nearMiss: mergedOK))
    }

    func testPackageRules() throws {
        let two: [String: String] = [
            "a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\nmessage M {}\nenum E {\n  E_UNSPECIFIED = 0;\n}\nservice S {}\n",
            "b/v1/b.proto": "syntax = \"proto3\";\npackage b.v1;\nmessage B {}\n",
        ]
        // Moving a type to another file of the same package is fine for PACKAGE rules (but not for FILE rules).
        let moved: [String: String] = [
            "a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\n",
            "a/v1/c.proto": "syntax = \"proto3\";\npackage a.v1;\nmessage M {}\nenum E {\n  E_UNSPECIFIED = 0;\n}\nservice S {}\n",
            "b/v1/b.proto": "syntax = \"proto3\";\npackage b.v1;\nmessage B {}\n",
        ]
        let gone: [String: String] = ["a/v1/a.proto": "syntax = \"proto3\";\npackage a.v1;\n", "b/v1/b.proto": "syntax = \"proto3\";\npackage b.v1;\nmessage B {}\n"]
        try run(Case(rule: "PACKAGE_MESSAGE_NO_DELETE", before: two, after: gone, message: "Previously present message \"M\" was deleted from package \"a.v1\".", at: "a/v1/a.proto:1:1", nearMiss: moved))
        try run(Case(rule: "PACKAGE_ENUM_NO_DELETE", before: two, after: gone, message: "Previously present enum \"E\" was deleted from package \"a.v1\".", at: "a/v1/a.proto:1:1", nearMiss: moved))
        try run(Case(rule: "PACKAGE_SERVICE_NO_DELETE", before: two, after: gone, message: "Previously present service \"S\" was deleted from package \"a.v1\".", at: "a/v1/a.proto:1:1", nearMiss: moved))
        try run(Case(rule: "PACKAGE_NO_DELETE", before: two, after: ["a/v1/a.proto": two["a/v1/a.proto"]!], message: "Previously present package \"b.v1\" was deleted.", at: "b/v1/b.proto:1:1", nearMiss: moved))
        XCTAssertEqual(Set(try Fixture.breaking(before: two, after: moved).map(\.type)), ["MESSAGE_NO_DELETE", "ENUM_NO_DELETE", "SERVICE_NO_DELETE"])
    }

    func testDeprecatedRulesAreAcceptedAndNeverFire() throws {
        for rule in ["FIELD_SAME_CTYPE", "FIELD_SAME_LABEL", "FILE_SAME_JAVA_STRING_CHECK_UTF8", "FILE_SAME_PHP_GENERIC_SERVICES"] {
            let f = try Fixture.breaking(before: v1(msg), after: v1("message M {}", options: "option java_string_check_utf8 = true;"), config: "version: v1\nbreaking:\n  use: [\(rule)]\n")
            XCTAssertEqual(f, [], rule)
        }
    }

    func testEveryRuleIDHasACategoryInTheTable() {
        XCTAssertEqual(BreakingRules.specs.count, 69)
        XCTAssertEqual(BreakingRules.specs.filter { $0.v1 != nil }.count, 66)
        XCTAssertEqual(BreakingRules.specs.filter { $0.v2 != nil }.count, 65)
    }
}
