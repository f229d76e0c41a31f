import Codegen
import Foundation
import XCTest

/// The lint of JSON-RPC services at generation (`(service).jsonrpc`): each
/// bad declaration stops `contracts generate` naming its rule.
final class JSONRPCLintTests: XCTestCase {
    func rules(_ rpcs: String, jsonrpc: Bool = true, extra: String = "") throws -> [String] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jsonrpc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/lint/v1", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = """
        syntax = "proto3";
        package lint.v1;
        import "google/api/annotations.proto";
        import "openagents/api/v1/options.proto";
        message Params { string agent_type = 1; string session_id = 2; }
        message Result { bool ok = 1; }
        service RpcService {
          \(jsonrpc ? "option (openagents.api.v1.service) = {jsonrpc: true};" : "")
        \(rpcs)
        }
        \(extra)
        """
        try text.write(toFile: dir + "/lint/v1/lint.proto", atomically: true, encoding: .utf8)
        var request = GenerateRequest(protoRoot: dir, importModules: ["Generated"])
        request.includes = [Repo.path("proto")]
        do {
            let out = try Generator.generate(request)
            XCTAssertNotNil(out["OpenRPC/lint.v1.RpcService.openrpc.json"] ?? (jsonrpc ? nil : ""), "a clean JSON-RPC service gets its OpenRPC document")
            return []
        } catch GeneratorError.badBindings(let findings) {
            return findings.map(\.rule)
        }
    }

    func testACleanServiceGeneratesItsTableAndDocument() throws {
        XCTAssertEqual(try rules(#"rpc Start(Params) returns (Result) { option (openagents.api.v1.jsonrpc) = {name: "session/start"}; }"#), [])
    }

    func testAnRpcWithoutAMethodNameIsRejected() throws {
        XCTAssertEqual(try rules("rpc Start(Params) returns (Result);"), ["JSONRPC_METHOD_MISSING"])
    }

    func testAMethodNamedTwiceIsRejected() throws {
        XCTAssertEqual(try rules("""
        rpc Start(Params) returns (Result) { option (openagents.api.v1.jsonrpc) = {name: "session/start"}; }
        rpc Begin(Params) returns (Result) { option (openagents.api.v1.jsonrpc) = {name: "session/start"}; }
        """), ["JSONRPC_METHOD_DUPLICATE"])
    }

    func testAMethodWithAnHTTPBindingIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Start(Params) returns (Result) { option (openagents.api.v1.jsonrpc) = {name: "s"}; option (google.api.http) = {post: "/s" body: "*"}; }"#),
                       ["JSONRPC_HTTP_BINDING"])
    }

    func testAStreamingMethodIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Start(Params) returns (stream Result) { option (openagents.api.v1.jsonrpc) = {name: "s"}; }"#), ["JSONRPC_STREAMING"])
    }

    func testReservedRpcNamesAreRejectedButDiscover() throws {
        XCTAssertEqual(try rules(#"rpc Ping(Params) returns (Result) { option (openagents.api.v1.jsonrpc) = {name: "rpc.ping"}; }"#), ["JSONRPC_RESERVED_NAME"])
        XCTAssertEqual(try rules(#"rpc Discover(Params) returns (Result) { option (openagents.api.v1.jsonrpc) = {name: "rpc.discover"}; }"#), [])
    }

    func testAMethodCannotBeBothKindsOfNotification() throws {
        XCTAssertEqual(try rules(#"rpc Both(Params) returns (Result) { option (openagents.api.v1.jsonrpc) = {name: "n" notification: true server_notification: true}; }"#),
                       ["JSONRPC_METHOD_KIND"])
    }

    func testAMethodOptionOutsideAJSONRPCServiceIsRejected() throws {
        XCTAssertEqual(try rules(#"rpc Start(Params) returns (Result) { option (openagents.api.v1.jsonrpc) = {name: "s"}; }"#, jsonrpc: false), ["JSONRPC_METHOD_OUTSIDE_SERVICE"])
    }
}
