import ServiceKit
import Foundation
import Generated
import Glibc
@testable import HTTPServer
import ProtoWire
import RuntimeCore
import RuntimeService
import Synchronization
import TestSupport
import XCTest

/// The server on real loopback sockets. No test depends on wall-clock speed:
/// timeouts are configured short and only their effect is asserted.
final class HTTPServerTests: XCTestCase {
    final class Probe: Sendable {
        let streamEnded = Atomic<Int>(0)
        let streamRejected = Atomic<Int>(0)
    }
    let probe = Probe()
    var server: HTTPServer!
    var port = 0

    override func setUp() async throws {
        // 1,000 client sockets plus 1,000 accepted ones need more than the usual 1,024 descriptors.
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)

        var r = Router()
        r.getSync("/hello") { _ in HTTPResponse(status: 200, headers: HTTPHeaders([("content-type", "text/plain")]), body: Array("hello".utf8)) }
        r.postSync("/echo") { req in HTTPResponse(status: 200, body: req.body) }
        r.getSync("/items/:id") { req in HTTPResponse(status: 200, body: Array((req.params["id"] ?? "").utf8)) }
        r.get("/slow") { _ in
            try await Task.sleep(nanoseconds: 300_000_000)
            return HTTPResponse(status: 200, body: Array("slow".utf8))
        }
        r.get("/fast") { _ in HTTPResponse(status: 200, body: Array("fast".utf8)) }
        r.get("/fail") { _ in throw ServiceError.conflict("already there") }
        r.post("/runs") { req in
            let create = try MessageIO.decode(RuntimeV1.CreateRunRequest.self, from: req)
            var run = RuntimeV1.RuntimeRun()
            run.runId = create.runId
            run.latestSeq = 1
            var out = RuntimeV1.RunResponse()
            out.run = run
            return MessageIO.respond(201, out, to: req)
        }
        let probe = self.probe
        r.get("/stream") { _ in
            .eventStream { w in
                for i in 1...3 { _ = await w.send(id: "\(i)", event: "message", data: "{\"seq\":\(i)}") }
                _ = await w.send(data: "[DONE]")
            }
        }
        r.get("/firehose") { _ in
            .eventStream { w in
                let payload = String(repeating: "x", count: 16 * 1024)
                for _ in 0..<100_000 { if await !w.send(data: payload) { probe.streamRejected.add(1, ordering: .relaxed); return } }
            }
        }
        r.get("/forever") { _ in
            .eventStream { w in
                while await w.comment("heartbeat") { try? await Task.sleep(nanoseconds: 20_000_000) }
                probe.streamEnded.add(1, ordering: .relaxed)
            }
        }
        var config = ServerConfig()
        config.loops = 2
        config.headerTimeout = 0.3
        config.idleTimeout = 1.0
        config.streamBufferLimit = 64 * 1024
        config.limits.maxBodyBytes = 1024
        server = HTTPServer(config: config, router: r, logger: Logger(level: .error))
        port = try server.start()
    }

    override func tearDown() async throws {
        await server.shutdown(deadline: 2)
    }

    func client() throws -> RawClient { try RawClient(port: port) }

    func get(_ path: String, _ extra: String = "") -> String { "GET \(path) HTTP/1.1\r\nHost: t\r\n\(extra)\r\n" }

    // MARK: Basics

    func testKeepAliveServesSeveralRequestsOnOneConnection() throws {
        let c = try client()
        for _ in 0..<3 {
            c.send(get("/hello"))
            let r = try XCTUnwrap(c.readResponse())
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.text, "hello")
            XCTAssertNil(r.headers["connection"])
        }
    }

    func testPipelinedResponsesComeBackInRequestOrder() throws {
        let c = try client()
        c.send(get("/slow") + get("/fast") + get("/items/42") + get("/hello"))
        XCTAssertEqual(c.readResponse()?.text, "slow")
        XCTAssertEqual(c.readResponse()?.text, "fast")
        XCTAssertEqual(c.readResponse()?.text, "42")
        XCTAssertEqual(c.readResponse()?.text, "hello")
    }

    func testHTTP10ClosesUnlessKeepAliveIsAsked() throws {
        let c = try client()
        c.send("GET /hello HTTP/1.0\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.headers["connection"], "close")
        XCTAssertTrue(c.readUntilClosed())
        let k = try client()
        k.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(k.readResponse()?.headers["connection"], "keep-alive")
        k.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertEqual(k.readResponse()?.status, 200)
    }

    func testConnectionCloseIsHonoured() throws {
        let c = try client()
        c.send(get("/hello", "Connection: close\r\n"))
        XCTAssertEqual(c.readResponse()?.headers["connection"], "close")
        XCTAssertTrue(c.readUntilClosed())
    }

    func testHeadHasHeadersButNoBody() throws {
        let c = try client()
        c.send("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        let r = try XCTUnwrap(c.readResponse(head: true))
        XCTAssertEqual(r.headers["content-length"], "5")
        c.send(get("/hello"))
        XCTAssertEqual(c.readResponse()?.text, "hello", "no stray body bytes before the next response")
    }

    func testContentLengthAndChunkedBodies() throws {
        let c = try client()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde")
        XCTAssertEqual(c.readResponse()?.text, "abcde")
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.text, "abcde")
        // A body split across writes.
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab")
        usleep(50_000)
        c.send("cd")
        XCTAssertEqual(c.readResponse()?.text, "abcd")
    }

    func testExpect100ContinueGetsAnInterimResponse() throws {
        let c = try client()
        c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        XCTAssertEqual(c.readResponse()?.status, 100)
        c.send("xyz")
        XCTAssertEqual(c.readResponse()?.text, "xyz")
    }

    // MARK: Strict framing (each would allow request smuggling)

    func assertRejected(_ raw: String, _ status: Int = 400, line: UInt = #line) throws {
        let c = try client()
        c.send(raw)
        let r = try XCTUnwrap(c.readResponse(), line: line)
        XCTAssertEqual(r.status, status, raw, line: line)
        XCTAssertEqual(r.headers["connection"], "close", line: line)
        XCTAssertTrue(r.text.hasPrefix("{\"error\":{\"code\":"), r.text, line: line)
        XCTAssertTrue(c.readUntilClosed(), "connection must be closed", line: line)
    }

    func testBothContentLengthAndTransferEncodingAreRejected() throws {
        try assertRejected("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    }

    func testConflictingContentLengthsAreRejected() throws {
        try assertRejected("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
        try assertRejected("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 4\r\n\r\nabcd")
        try assertRejected("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +3\r\n\r\nabc")
    }

    func testObsFoldIsRejected() throws {
        try assertRejected("GET /hello HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n")
    }

    func testBareLFIsRejected() throws {
        try assertRejected("GET /hello HTTP/1.1\nHost: t\n\n")
        try assertRejected("GET /hello HTTP/1.1\r\nHost: t\nX: y\r\n\r\n")
    }

    func testNonFinalChunkedCodingIsRejected() throws {
        try assertRejected("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n")
        try assertRejected("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n")
    }

    func testWhitespaceBeforeHeaderColonIsRejected() throws {
        try assertRejected("GET /hello HTTP/1.1\r\nHost : t\r\n\r\n")
    }

    func testMissingHostIsRejected() throws {
        try assertRejected("GET /hello HTTP/1.1\r\n\r\n")
    }

    func testMalformedChunkSizeIsRejected() throws {
        try assertRejected("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
    }

    // MARK: Limits and timeouts

    func testOversizedHeaderSectionIs431() throws {
        try assertRejected(get("/hello", "X-Big: \(String(repeating: "a", count: 17 * 1024))\r\n"), 431)
    }

    func testTooManyHeadersIs431() throws {
        try assertRejected(get("/hello", (0..<101).map { "X-\($0): v\r\n" }.joined()), 431)
    }

    func testOversizedBodyIs413() throws {
        try assertRejected("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n", 413)
        try assertRejected("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n\(String(repeating: "a", count: 2048))\r\n0\r\n\r\n", 413)
    }

    func testSlowHeadersGet408() throws {
        let c = try client()
        c.send("GET /hello HTTP/1.1\r\nHost: t\r\n")  // never finished
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 408)
        XCTAssertTrue(c.readUntilClosed())
    }

    func testIdleKeepAliveConnectionsAreClosed() throws {
        let c = try client()
        c.send(get("/hello"))
        XCTAssertEqual(c.readResponse()?.status, 200)
        XCTAssertTrue(c.readUntilClosed(), "idle connection should be closed by the server")
    }

    // MARK: Routing, errors, headers, negotiation

    func testUnknownPathIs404AndWrongMethodIs405WithAllow() throws {
        let c = try client()
        c.send(get("/nope"))
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 404)
        XCTAssertEqual(r.text, #"{"error":{"code":"not_found","message":"no route for /nope"}}"#)
        c.send("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n")
        let m = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(m.status, 405)
        XCTAssertEqual(m.headers["allow"], "GET, HEAD")
    }

    func testTypedErrorsBecomeTheEnvelope() throws {
        let c = try client()
        c.send(get("/fail"))
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 409)
        XCTAssertEqual(r.headers["cache-control"], "no-store")
        XCTAssertEqual(r.text, #"{"error":{"code":"conflict","message":"already there"}}"#)
    }

    func testRequestIdIsEchoedOrGenerated() throws {
        let c = try client()
        c.send(get("/hello", "X-Request-Id: abc-123\r\n"))
        XCTAssertEqual(c.readResponse()?.headers["x-request-id"], "abc-123")
        c.send(get("/hello"))
        XCTAssertEqual(c.readResponse()?.headers["x-request-id"]?.count, 32)
    }

    func testTraceContextIsPropagated() throws {
        let c = try client()
        c.send(get("/hello", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ntracestate: vendor=x\r\n"))
        let r = try XCTUnwrap(c.readResponse())
        let parts = r.headers["traceparent"]?.split(separator: "-") ?? []
        XCTAssertEqual(parts.count, 4)
        XCTAssertEqual(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "same trace")
        XCTAssertNotEqual(parts[2], "00f067aa0ba902b7", "our own span")
        XCTAssertEqual(r.headers["tracestate"], "vendor=x")
    }

    func testJSONAndProtobufContentNegotiation() throws {
        let c = try client()
        let json = #"{"run_id":"r1"}"#
        c.send("POST /runs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\n\r\n\(json)")
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 201)
        XCTAssertTrue(r.text.contains(#""runId":"r1""#), r.text)
        XCTAssertTrue(r.text.contains(#""latestSeq":1"#), "64-bit integers as JSON numbers: \(r.text)")
        var create = RuntimeV1.CreateRunRequest()
        create.runId = "r2"
        let bin = create.serializedBytes()
        c.send(Array("POST /runs HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\nAccept: application/x-protobuf\r\nContent-Length: \(bin.count)\r\n\r\n".utf8) + bin)
        let p = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(p.headers["content-type"], "application/x-protobuf")
        XCTAssertEqual(try RuntimeV1.RunResponse(serializedBytes: p.body).run?.runId, "r2")
        c.send("POST /runs HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx")
        XCTAssertEqual(c.readResponse()?.status, 415)
        c.send("POST /runs HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"run_id\":5}")
        let bad = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(bad.status, 400)
        XCTAssertTrue(bad.text.contains("invalid JSON body: runId: expected string") || bad.text.contains("run_id: expected string"), bad.text)
    }

    // MARK: Streaming

    func testServerSentEventsAreChunkedAndEnd() throws {
        let c = try client()
        c.send(get("/stream"))
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.headers["content-type"], "text/event-stream")
        XCTAssertEqual(r.text, "event: message\nid: 1\ndata: {\"seq\":1}\n\nevent: message\nid: 2\ndata: {\"seq\":2}\n\nevent: message\nid: 3\ndata: {\"seq\":3}\n\ndata: [DONE]\n\n")
        c.send(get("/hello"))
        XCTAssertEqual(c.readResponse()?.text, "hello", "the connection is reusable after a finished stream")
    }

    func testSlowStreamReaderIsDroppedNotBuffered() throws {
        let c = try RawClient(port: port, timeout: 10)
        var small: Int32 = 4096
        setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        c.send(get("/firehose"))
        // Never read: the server's buffer limit must trip and the producer learn it.
        for _ in 0..<500 where probe.streamRejected.load(ordering: .relaxed) == 0 { usleep(10_000) }
        XCTAssertEqual(probe.streamRejected.load(ordering: .relaxed), 1)
    }

    func testDisconnectingStreamReaderStopsTheProducer() throws {
        do {
            let c = try client()
            c.send(get("/forever"))
            XCTAssertNotNil(c.readStream(until: ": heartbeat"))
        }  // closed here
        for _ in 0..<300 where probe.streamEnded.load(ordering: .relaxed) == 0 { usleep(10_000) }
        XCTAssertEqual(probe.streamEnded.load(ordering: .relaxed), 1)
    }

    // MARK: Load and shutdown

    func testOneThousandConcurrentConnections() throws {
        var clients: [RawClient] = []
        for _ in 0..<1000 { clients.append(try RawClient(port: port, timeout: 10)) }
        for (i, c) in clients.enumerated() { c.send(get("/items/\(i)")) }
        for (i, c) in clients.enumerated() {
            let r = c.readResponse()
            XCTAssertEqual(r?.status, 200)
            XCTAssertEqual(r?.text, "\(i)")
        }
    }

    func testGracefulShutdownFinishesInFlightRequests() async throws {
        let c = try client()
        c.send(get("/slow"))
        usleep(50_000)
        let server = self.server!
        let stopping = Task { await server.shutdown(deadline: 5) }
        let r = c.readResponse()
        XCTAssertEqual(r?.status, 200)
        XCTAssertEqual(r?.text, "slow")
        XCTAssertTrue(c.readUntilClosed())
        await stopping.value
        XCTAssertThrowsError(try RawClient(port: port), "no new connections after shutdown")
    }

    func testMetricsCountRequestsByRouteAndStatus() throws {
        let c = try client()
        c.send(get("/items/1") + get("/nope"))
        _ = c.readResponse(); _ = c.readResponse()
        let text = server.metrics.render()
        XCTAssertTrue(text.contains("http_requests_total{route=\"/items/:id\",method=\"GET\",status=\"200\"} 1"), text)
        XCTAssertTrue(text.contains("http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1"), text)
        XCTAssertTrue(text.contains("http_open_connections"))
    }
}
