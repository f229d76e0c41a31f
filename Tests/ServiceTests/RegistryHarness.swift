import APIRuntime
import ControlService
import Foundation
import Generated
import HTTPServer
import ProtoWire
@testable import RuntimeCore
import ServiceKit
import TestSupport
import XCTest

/// The capability registry's JSON-RPC surface on a control service with a
/// runtime behind it: calls over `POST /api/rpc` and `/api/rpc/ws`, results
/// decoded into the generated types of registry_rpc.proto.
class RegistryHarness: ControlHarness {
    /// One JSON-RPC answer: the whole message, its result's JSON, its error.
    struct Answer {
        var message: [String: Any]
        var id: Any? { message["id"] }
        var result: Any? { message["result"] }
        var error: [String: Any]? { message["error"] as? [String: Any] }
        var code: Int? { error?["code"] as? Int }
        var data: [String: Any]? { error?["data"] as? [String: Any] }
        var resultBytes: [UInt8] { result.flatMap { try? JSONSerialization.data(withJSONObject: $0, options: [.fragmentsAllowed]) }.map { [UInt8]($0) } ?? [] }
    }

    static func json(_ v: Any) -> String { String(decoding: (try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys])) ?? Data(), as: UTF8.self) }

    static func request(_ method: String, _ params: Any? = nil, id: Any = 1) -> String {
        var m: [String: Any] = ["jsonrpc": "2.0", "method": method, "id": id]
        if let params { m["params"] = params }
        return json(m)
    }

    /// A raw POST /api/rpc.
    func post(_ body: String, as user: String = "u1") throws -> RawClient.Response { try call("POST", "/api/rpc", body, token: session(user)) }

    /// One call over HTTP.
    func rpc(_ method: String, _ params: Any? = nil, as user: String = "u1", file: StaticString = #filePath, line: UInt = #line) throws -> Answer {
        let r = try post(Self.request(method, params), as: user)
        XCTAssertEqual(r.status, 200, r.text, file: file, line: line)
        return Answer(message: try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any], r.text, file: file, line: line))
    }

    /// A call's result decoded, strictly, into the contract's type.
    func result<M: ProtoMessage>(_ type: M.Type, _ a: Answer, file: StaticString = #filePath, line: UInt = #line) throws -> M {
        XCTAssertNil(a.error, "\(a.message)", file: file, line: line)
        return try M(jsonBytes: a.resultBytes, options: JSONDecodingOptions(ignoreUnknownFields: false, acceptEnumWireWords: true))
    }

    func call<M: ProtoMessage>(_ type: M.Type, _ method: String, _ params: Any? = nil, as user: String = "u1", file: StaticString = #filePath, line: UInt = #line) throws -> M {
        try result(type, try rpc(method, params, as: user, file: file, line: line), file: file, line: line)
    }

    func start(_ agent: String? = "codex", workspace: String = "w1", as user: String = "u1") throws -> ControlV1.SessionStartResult {
        var p: [String: Any] = ["workspace_id": workspace]
        if let agent { p["agent_type"] = agent }
        return try call(ControlV1.SessionStartResult.self, "session/start", p, as: user)
    }

    /// A WebSocket on /api/rpc/ws, optionally initialized.
    func socket(as user: String = "u1", initialize: Bool = true) throws -> WSClient {
        let ws = try WSClient(port: controlPort, path: "/api/rpc/ws", headers: [("Authorization", "Bearer \(session(user))")])
        XCTAssertEqual(ws.upgrade.status, 101, ws.upgrade.text)
        if initialize {
            ws.send(text: Self.request("initialize", ["clientInfo": ["name": "tests"]], id: "init"))
            _ = try answer(ws, id: "init")
        }
        return ws
    }

    /// Messages read from a socket (answers and notifications), in arrival order.
    func next(_ ws: WSClient) throws -> Any {
        let text = try XCTUnwrap(ws.readText(), "the socket closed or timed out")
        return try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    /// Reads until the answer with `id`, keeping notifications seen on the way.
    func answer(_ ws: WSClient, id: String, notifications: inout [[String: Any]]) throws -> Answer {
        while true {
            let m = try next(ws)
            guard let o = m as? [String: Any] else { continue }
            if o["method"] != nil { notifications.append(o); continue }
            if o["id"] as? String == id { return Answer(message: o) }
        }
    }

    func answer(_ ws: WSClient, id: String) throws -> Answer {
        var ignored: [[String: Any]] = []
        return try answer(ws, id: id, notifications: &ignored)
    }

    /// A run event appended at the runtime directly (what an agent worker would write).
    func appendAtRuntime(_ runID: String, _ type: String, _ payload: [String: Any]) throws {
        let c = try RawClient(port: runtimePort)
        let body = Self.json(["event_type": type, "payload": payload])
        let sig = RuntimeSignature.sign(RuntimeSignature.claims(), secret: Self.runtimeSecret)
        c.send("POST /internal/v1/runs/\(runID)/events HTTP/1.1\r\nHost: t\r\n\(RuntimeSignature.header): \(sig)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 200, r.text)
    }

    /// The run behind a session, read at the runtime.
    func runAtRuntime(_ runID: String) throws -> RuntimeV1.RuntimeRun {
        let c = try RawClient(port: runtimePort)
        let sig = RuntimeSignature.sign(RuntimeSignature.claims(), secret: Self.runtimeSecret)
        c.send("GET /internal/v1/runs/\(runID) HTTP/1.1\r\nHost: t\r\n\(RuntimeSignature.header): \(sig)\r\nContent-Length: 0\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 200, r.text)
        return try XCTUnwrap(RuntimeV1.RunResponse(jsonBytes: r.body, options: JSONDecodingOptions(ignoreUnknownFields: true, acceptEnumWireWords: true)).run)
    }

    /// A registry file: the built-in table edited by `change`.
    func registryFile(_ change: (inout [[String: Any]]) -> Void) throws -> String {
        var doc = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(RuntimeAdapters.builtIn.jsonBytes())) as? [String: Any])
        var runtimes = doc["runtimes"] as? [[String: Any]] ?? []
        change(&runtimes)
        doc["runtimes"] = runtimes
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/registry.json"
        try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: path))
        return path
    }
}
