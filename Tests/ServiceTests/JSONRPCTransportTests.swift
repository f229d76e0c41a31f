import APIRuntime
import Foundation
import Generated
import HTTPServer
@testable import ServiceKit
import TestSupport
import XCTest

/// A server carrying the specification's methods on both JSON-RPC transports
/// (the transports of ServiceKit, as the registry uses them).
enum SpecServer {
    static func start() throws -> (HTTPServer, Int) {
        var r = Router()
        r.add("POST", "/rpc", .async { request in
            var body = ApiV1.HttpBody()
            body.contentType = request.headers["content-type"] ?? ""
            body.data = request.body
            let out = try await JSONRPCTransport.post(body) { await JSONRPCSpecTests.handle($0) }
            return HTTPResponse(status: out.status ?? 200, headers: HTTPHeaders([("content-type", "application/json")]), body: out.message.data)
        })
        r.add("GET", "/rpc/ws", .async { request in
            HTTPResponse.webSocket(request) { ws in
                await JSONRPCSocket(socket: ws, opening: nil) { request, _, _ in await JSONRPCSpecTests.handle(request) }.run()
            }
        })
        var config = ServerConfig()
        config.port = 0
        config.loops = 1
        let server = HTTPServer(config: config, router: r, logger: Logger(level: .error))
        return (server, try server.start())
    }
}

extension SpecServer {
    /// An HTTP POST: 200 with the answer, 204 when there is none.
    static func overHTTP(_ port: Int, _ body: String) -> Any? {
        guard let c = try? RawClient(port: port) else { return nil }
        c.send("POST /rpc HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        guard let r = c.readResponse() else { return nil }
        if r.status == 204 { XCTAssertTrue(r.body.isEmpty); return nil }
        XCTAssertEqual(r.status, 200)
        return try? JSONSerialization.jsonObject(with: Data(r.body))
    }

    /// A WebSocket text frame. "No answer" is checked by a sentinel call sent
    /// after the message: calls run concurrently, so one more read settles
    /// which came first.
    static func overWebSocket(_ port: Int, _ body: String) -> Any? {
        guard let ws = try? WSClient(port: port, path: "/rpc/ws", timeout: 1) else { return nil }
        XCTAssertEqual(ws.upgrade.status, 101)
        ws.send(text: body)
        ws.send(text: #"{"jsonrpc":"2.0","method":"get_data","id":"sentinel"}"#)
        func read() -> Any? { ws.readText().flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } }
        func isSentinel(_ v: Any?) -> Bool { (v as? [String: Any])?["id"] as? String == "sentinel" }
        var first = read()
        if isSentinel(first) { first = read() } else { XCTAssertTrue(isSentinel(read()), "the socket answered the sentinel") }
        return first
    }
}
