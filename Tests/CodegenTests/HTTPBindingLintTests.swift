import Codegen
import Foundation
import XCTest

/// The lint of HTTP bindings at generation: each bad binding stops
/// `contracts generate` with a finding naming its rule, and nothing is written.
final class HTTPBindingLintTests: XCTestCase {
    /// Generates one fixture file declaring `service` (and `messages`) and returns the rules that fired.
    func rules(_ service: String, messages: String = "") throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bindings-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/lint/v1", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = """
        syntax = "proto3";
        package lint.v1;
        import "google/api/annotations.proto";
        import "google/protobuf/struct.proto";
        message Inner { string a = 1; }
        message Req {
          string id = 1;
          repeated string ids = 2;
          Inner inner = 3;
          map<string, string> labels = 4;
          google.protobuf.Struct meta = 5;
        }
        message Plain { string id = 1; int32 n = 2; }
        message Res { string out = 1; }
        \(messages)
        service LintService {
        \(service)
        }
        """
        try text.write(toFile: dir + "/lint/v1/lint.proto", atomically: true, encoding: .utf8)
        var request = GenerateRequest(protoRoot: dir, importModules: ["Generated"])
        request.includes = [Repo.path("proto")]
        do {
            _ = try Generator.generate(request)
            return []
        } catch GeneratorError.badBindings(let findings) {
            return findings.map(\.rule)
        }
    }

    func testACleanServiceGenerates() throws {
        XCTAssertEqual(try rules(#"rpc Get(Plain) returns (Res) { option (google.api.http) = {get: "/v1/things/{id}"}; }"#), [])
    }

    func testAPathVariableThatNamesNoFieldIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Get(Plain) returns (Res) { option (google.api.http) = {get: "/v1/things/{thing_id}"}; }"#), ["HTTP_PATH_VARIABLE_UNBOUND"])
    }

    func testARepeatedPathVariableIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Get(Req) returns (Res) { option (google.api.http) = {post: "/v1/things/{ids}" body: "*"}; }"#), ["HTTP_PATH_VARIABLE_REPEATED"])
    }

    func testAMessagePathVariableIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Get(Req) returns (Res) { option (google.api.http) = {post: "/v1/things/{inner}" body: "*"}; }"#), ["HTTP_PATH_VARIABLE_MESSAGE"])
    }

    func testANestedPathVariableThroughAMessageIsAllowed() throws {
        XCTAssertEqual(try rules(#"rpc Get(Req) returns (Res) { option (google.api.http) = {post: "/v1/things/{inner.a}" body: "*"}; }"#), [])
    }

    func testABodyOnGetIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Get(Plain) returns (Res) { option (google.api.http) = {get: "/v1/things" body: "*"}; }"#), ["HTTP_BODY_ON_GET_OR_DELETE"])
    }

    func testABodyOnDeleteIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Del(Plain) returns (Res) { option (google.api.http) = {delete: "/v1/things/{id}" body: "*"}; }"#), ["HTTP_BODY_ON_GET_OR_DELETE"])
    }

    func testAQueryFieldThatIsAMapOrStructIsRejected() throws {
        let found = try rules(#"rpc List(Req) returns (Res) { option (google.api.http) = {get: "/v1/things"}; }"#)
        XCTAssertEqual(found, ["HTTP_QUERY_FIELD_MESSAGE", "HTTP_QUERY_FIELD_MESSAGE"], "labels (a map) and meta (a Struct)")
    }

    func testABodyFieldThatDoesNotExistIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Put(Plain) returns (Res) { option (google.api.http) = {put: "/v1/things/{id}" body: "nope"}; }"#), ["HTTP_BODY_UNBOUND"])
    }

    func testAResponseBodyThatDoesNotExistIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Get(Plain) returns (Res) { option (google.api.http) = {get: "/v1/things/{id}" response_body: "nope"}; }"#), ["HTTP_RESPONSE_BODY_UNBOUND"])
    }

    func testConflictingTemplatesAreRejected() throws {
        let found = try rules("""
        rpc Get(Plain) returns (Res) { option (google.api.http) = {get: "/v1/things/{id}"}; }
        rpc Latest(Plain) returns (Res) { option (google.api.http) = {get: "/v1/things/latest"}; }
        """)
        XCTAssertEqual(found, ["HTTP_TEMPLATE_CONFLICT"])
    }

    func testTheSameTemplateWithAnotherMethodIsNoConflict() throws {
        XCTAssertEqual(try rules("""
        rpc Get(Plain) returns (Res) { option (google.api.http) = {get: "/v1/things/{id}"}; }
        rpc Put(Plain) returns (Res) { option (google.api.http) = {put: "/v1/things/{id}" body: "*"}; }
        """), [])
    }

    func testAMalformedTemplateIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Get(Plain) returns (Res) { option (google.api.http) = {get: "/v1/**/x"}; }"#), ["HTTP_TEMPLATE_INVALID"])
    }

    func testClientStreamingHasNoBinding() throws {
        XCTAssertEqual(try rules(#"rpc Up(stream Plain) returns (Res) { option (google.api.http) = {post: "/v1/up" body: "*"}; }"#), ["HTTP_CLIENT_STREAMING"])
    }

    func testTheFindingNamesTheFileAndTheRpc() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bindings-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/lint/v1", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        syntax = "proto3";
        package lint.v1;
        import "google/api/annotations.proto";
        message P { string id = 1; }
        service S { rpc Get(P) returns (P) { option (google.api.http) = {get: "/v1/p/{pid}"}; } }
        """.write(toFile: dir + "/lint/v1/lint.proto", atomically: true, encoding: .utf8)
        var request = GenerateRequest(protoRoot: dir)
        request.includes = [Repo.path("proto")]
        XCTAssertThrowsError(try Generator.generate(request)) { error in
            XCTAssertEqual("\(error)", "HTTP bindings rejected:\n  lint/v1/lint.proto: S.Get: path variable {pid} names no field of lint.v1.P (HTTP_PATH_VARIABLE_UNBOUND)")
        }
    }
}
