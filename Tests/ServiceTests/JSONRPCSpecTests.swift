import Foundation
import HTTPServer
@testable import ServiceKit
import XCTest

/// The examples of the JSON-RPC 2.0 specification (section 7), one test
/// each, with the spec's own methods: through `JSONRPC.serve`, as an HTTP
/// POST and as WebSocket text frames.
final class JSONRPCSpecTests: XCTestCase {
    /// subtract, sum, get_data, update, notify_hello, notify_sum: the methods the examples call.
    static func handle(_ r: JSONRPC.Request) async -> Result<[UInt8], JSONRPC.ErrorObject> {
        let params = r.params.flatMap { try? JSONSerialization.jsonObject(with: Data($0)) }
        func json(_ v: Any) -> [UInt8] { [UInt8]((try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed])) ?? Data()) }
        switch r.method {
        case "subtract":
            if let a = params as? [Int], a.count == 2 { return .success(json(a[0] - a[1])) }
            if let o = params as? [String: Int], let m = o["minuend"], let s = o["subtrahend"] { return .success(json(m - s)) }
            return .failure(.invalidParams("subtract takes [minuend, subtrahend] or {minuend, subtrahend}"))
        case "sum": return .success(json((params as? [Int] ?? []).reduce(0, +)))
        case "get_data": return .success(json(["hello", 5]))
        case "update", "notify_hello", "notify_sum": return .success(json(NSNull()))
        default: return .failure(.methodNotFound(r.method))
        }
    }

    /// Each example runs through the protocol layer and over both transports of a real server.
    enum Via: CaseIterable { case direct, http, webSocket }
    var server: HTTPServer?
    var port = 0

    override func setUp() async throws { (server, port) = try SpecServer.start() }
    override func tearDown() async throws { await server?.shutdown(deadline: 1) }

    /// The answer to `body` (nil when there is none).
    func serve(via: Via, _ body: String) async -> Any? {
        switch via {
        case .direct:
            guard let out = await JSONRPC.serve(Array(body.utf8), Self.handle) else { return nil }
            return try? JSONSerialization.jsonObject(with: Data(out))
        case .http: return SpecServer.overHTTP(port, body)
        case .webSocket: return SpecServer.overWebSocket(port, body)
        }
    }

    func object(_ v: Any?) throws -> [String: Any] { try XCTUnwrap(v as? [String: Any]) }
    func code(_ v: Any?) -> Int? { ((v as? [String: Any])?["error"] as? [String: Any])?["code"] as? Int }

    func testRPCCallWithPositionalParameters() async throws {
        for via in Via.allCases {
            var r = try object(await serve(via: via, #"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#))
            XCTAssertEqual(r["result"] as? Int, 19)
            XCTAssertEqual(r["id"] as? Int, 1)
            XCTAssertEqual(r["jsonrpc"] as? String, "2.0")
            r = try object(await serve(via: via, #"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#))
            XCTAssertEqual(r["result"] as? Int, -19)
            XCTAssertEqual(r["id"] as? Int, 2)
        }
    }

    func testRPCCallWithNamedParameters() async throws {
        for via in Via.allCases {
            var r = try object(await serve(via: via, #"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#))
            XCTAssertEqual(r["result"] as? Int, 19)
            r = try object(await serve(via: via, #"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#))
            XCTAssertEqual(r["result"] as? Int, 19)
            XCTAssertEqual(r["id"] as? Int, 4)
        }
    }

    func testANotificationGetsNoResponse() async {
        for via in Via.allCases {
            let a = await serve(via: via, #"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#)
            XCTAssertNil(a)
            let b = await serve(via: via, #"{"jsonrpc": "2.0", "method": "foobar"}"#)
            XCTAssertNil(b, "not even an unknown method's error")
        }
    }

    func testCallOfANonExistentMethod() async throws {
        for via in Via.allCases {
            let r = try object(await serve(via: via, #"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#))
            XCTAssertEqual(code(r), -32601)
            XCTAssertEqual((r["error"] as? [String: Any])?["message"] as? String, "Method not found")
            XCTAssertEqual(r["id"] as? String, "1")
        }
    }

    func testCallWithInvalidJSON() async throws {
        for via in Via.allCases {
            let r = try object(await serve(via: via, #"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#))
            XCTAssertEqual(code(r), -32700)
            XCTAssertTrue(r["id"] is NSNull)
        }
    }

    func testCallWithAnInvalidRequestObject() async throws {
        for via in Via.allCases {
            let r = try object(await serve(via: via, #"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#))
            XCTAssertEqual(code(r), -32600)
            XCTAssertTrue(r["id"] is NSNull)
        }
    }

    func testBatchCallWithInvalidJSON() async throws {
        for via in Via.allCases {
            let r = try object(await serve(via: via, """
            [
              {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
              {"jsonrpc": "2.0", "method"
            ]
            """))
            XCTAssertEqual(code(r), -32700)
        }
    }

    func testBatchCallWithAnEmptyArray() async throws {
        for via in Via.allCases {
            let r = try object(await serve(via: via, "[]"))
            XCTAssertEqual(code(r), -32600)
            XCTAssertTrue(r["id"] is NSNull)
        }
    }

    func testBatchCallWithAnInvalidBatchOfOne() async throws {
        for via in Via.allCases {
            let v = await serve(via: via, "[1]")
            let r = try XCTUnwrap(v as? [Any])
            XCTAssertEqual(r.count, 1)
            XCTAssertEqual(code(r[0]), -32600)
        }
    }

    func testBatchCallWithAnInvalidBatch() async throws {
        for via in Via.allCases {
            let v = await serve(via: via, "[1,2,3]")
            let r = try XCTUnwrap(v as? [Any])
            XCTAssertEqual(r.map(code), [-32600, -32600, -32600])
        }
    }

    func testMixedBatchAnswersEachRequestAndNoNotification() async throws {
        for via in Via.allCases {
            let v = await serve(via: via, """
            [
                {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
                {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
                {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
                {"foo": "boo"},
                {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
                {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
            ]
            """)
            let r = try XCTUnwrap(v as? [[String: Any]])
            XCTAssertEqual(r.count, 5)
            XCTAssertEqual(r[0]["result"] as? Int, 7)
            XCTAssertEqual(r[0]["id"] as? String, "1")
            XCTAssertEqual(r[1]["result"] as? Int, 19)
            XCTAssertEqual(r[1]["id"] as? String, "2")
            XCTAssertEqual(code(r[2]), -32600)
            XCTAssertTrue(r[2]["id"] is NSNull)
            XCTAssertEqual(code(r[3]), -32601)
            XCTAssertEqual(r[3]["id"] as? String, "5")
            XCTAssertEqual(r[4]["result"] as? [AnyHashable], ["hello", 5])
            XCTAssertEqual(r[4]["id"] as? String, "9")
        }
    }

    func testABatchOfNotificationsReturnsNothing() async {
        for via in Via.allCases {
            let r = await serve(via: via, """
            [
                {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
                {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
            ]
            """)
            XCTAssertNil(r)
        }
    }

    func testIdsAreEchoedExactlyAsSent() async throws {
        for id in ["1", "-7", "1.5", "\"abc\"", "null", "12345678901234567890"] {
            let sent = await JSONRPC.serve(Array(#"{"jsonrpc":"2.0","method":"get_data","id":\#(id)}"#.utf8), Self.handle)
            let out = try XCTUnwrap(sent)
            XCTAssertTrue(String(decoding: out, as: UTF8.self).hasSuffix(#","id":\#(id)}"#), String(decoding: out, as: UTF8.self))
        }
    }

    func testOtherInvalidRequestsAreNamed() async throws {
        for via in Via.allCases {
            do { let v = await serve(via: via, #"{"jsonrpc":"1.0","method":"sum","id":1}"#); XCTAssertEqual(code(v), -32600) }
            do { let v = await serve(via: via, #"{"method":"sum","id":1}"#); XCTAssertEqual(code(v), -32600) }
            do { let v = await serve(via: via, #"{"jsonrpc":"2.0","method":"sum","params":5,"id":1}"#); XCTAssertEqual(code(v), -32600) }
            do { let v = await serve(via: via, #"{"jsonrpc":"2.0","method":"sum","id":{"a":1}}"#); XCTAssertEqual(code(v), -32600) }
            do { let v = await serve(via: via, #""just a string""#); XCTAssertEqual(code(v), -32600) }
            do { let v = await serve(via: via, #"{"jsonrpc":"2.0","method":"subtract","params":["x"],"id":1}"#); XCTAssertEqual(code(v), -32602) }
        }
    }
}
