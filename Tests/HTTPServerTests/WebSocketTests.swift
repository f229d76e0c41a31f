import Foundation
@testable import HTTPServer
import TestSupport
import XCTest

/// RFC 6455 on our server core: the handshake, framing rules and the close
/// codes each violation earns, against our own raw client and against
/// Python's `websockets` (an independent implementation).
final class WebSocketTests: XCTestCase {
    var server: HTTPServer?
    var port = 0

    override func tearDown() async throws { await server?.shutdown(deadline: 2) }

    /// An echo endpoint: text and binary messages come back as they were sent.
    func serveEcho(maxMessage: Int = 1 << 20) throws {
        var r = Router()
        r.add("GET", "/echo", .sync({ request in
            if let problem = WebSocketHandshake.problem(request) { return HTTPResponse(status: 400, body: Array(problem.utf8)) }
            return .webSocket(request) { ws in
                for await event in ws.incoming {
                    switch event {
                    case .text(let s): _ = await ws.send(text: s)
                    case .binary(let b): _ = await ws.send(binary: b)
                    default: break
                    }
                }
            }
        }))
        var c = ServerConfig()
        c.loops = 1
        c.webSocketMaxMessageBytes = maxMessage
        let s = HTTPServer(config: c, router: r, logger: Logger(level: .error))
        port = try s.start()
        server = s
    }

    // MARK: SHA-1 and the accept key

    func testSHA1MatchesFIPS180Vectors() {
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        XCTAssertEqual(hex(SHA1.hash(Array("abc".utf8))), "a9993e364706816aba3e25717850c26c9cd0d89d")
        XCTAssertEqual(hex(SHA1.hash([])), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        XCTAssertEqual(hex(SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))), "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        XCTAssertEqual(hex(SHA1.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))), "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    func testAcceptKeyIsTheRFCExample() {
        XCTAssertEqual(WebSocketHandshake.acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    func testUpgradeAnswers101WithTheAcceptKey() throws {
        try serveEcho()
        let ws = try WSClient(port: port, path: "/echo")
        XCTAssertEqual(ws.upgrade.status, 101)
        XCTAssertEqual(ws.upgrade.headers["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        XCTAssertEqual(ws.upgrade.headers["upgrade"]?.lowercased(), "websocket")
        ws.send(text: "héllo")
        XCTAssertEqual(ws.readText(), "héllo")
    }

    func testRequestWithoutUpgradeHeadersIsNotUpgraded() throws {
        try serveEcho()
        let r = try XCTUnwrap(RawClient.get(port: port, path: "/echo"))
        XCTAssertEqual(r.status, 400)
    }

    // MARK: Framing

    func testFragmentedTextIsReassembledAcrossContinuationFrames() throws {
        try serveEcho()
        let ws = try WSClient(port: port, path: "/echo")
        ws.send(1, Array("frag".utf8), fin: false)
        ws.send(9, Array("mid-ping".utf8))  // a control frame may come between fragments
        ws.send(0, Array("men".utf8), fin: false)
        ws.send(0, Array("ted".utf8), fin: true)
        let pong = try XCTUnwrap(ws.read())
        XCTAssertEqual(pong.opcode, 0xA)
        XCTAssertEqual(pong.text, "mid-ping")
        XCTAssertEqual(ws.readText(), "fragmented")
    }

    func testPingIsAnsweredWithPongCarryingItsPayload() throws {
        try serveEcho()
        let ws = try WSClient(port: port, path: "/echo")
        ws.send(9, [1, 2, 3])
        let f = try XCTUnwrap(ws.read())
        XCTAssertEqual(f.opcode, 0xA)
        XCTAssertEqual(f.payload, [1, 2, 3])
    }

    func testCloseHandshakeEchoesTheCodeAndEndsTheConnection() throws {
        try serveEcho()
        let ws = try WSClient(port: port, path: "/echo")
        ws.send(8, [0x03, 0xE8] + Array("bye".utf8))
        let f = try XCTUnwrap(ws.read())
        XCTAssertEqual(f.closeCode, 1000)
        XCTAssertTrue(ws.raw.readUntilClosed())
    }

    func closeCode(after frame: [UInt8], maxMessage: Int = 1 << 20, file: StaticString = #filePath, line: UInt = #line) throws -> UInt16? {
        try serveEcho(maxMessage: maxMessage)
        let ws = try WSClient(port: port, path: "/echo")
        ws.raw.send(frame)
        var code: UInt16?
        while let f = ws.read() { if f.opcode == 8 { code = f.closeCode; break } }
        XCTAssertTrue(ws.raw.readUntilClosed(), "the server closes after a violation", file: file, line: line)
        return code
    }

    func testUnmaskedClientFrameClosesWith1002() throws {
        XCTAssertEqual(try closeCode(after: WSClient.frame(1, Array("x".utf8), masked: false)), 1002)
    }

    func testReservedBitsCloseWith1002() throws {
        XCTAssertEqual(try closeCode(after: WSClient.frame(1, Array("x".utf8), rsv: 4)), 1002)
    }

    func testOversizedControlFrameClosesWith1002() throws {
        XCTAssertEqual(try closeCode(after: WSClient.frame(9, [UInt8](repeating: 7, count: 126))), 1002)
    }

    func testFragmentedControlFrameClosesWith1002() throws {
        XCTAssertEqual(try closeCode(after: WSClient.frame(9, [1], fin: false)), 1002)
    }

    func testContinuationWithoutAMessageClosesWith1002() throws {
        XCTAssertEqual(try closeCode(after: WSClient.frame(0, [1])), 1002)
    }

    func testInvalidUTF8TextClosesWith1007() throws {
        XCTAssertEqual(try closeCode(after: WSClient.frame(1, [0xC3, 0x28])), 1007)
    }

    func testMessageOverTheLimitClosesWith1009() throws {
        XCTAssertEqual(try closeCode(after: WSClient.frame(2, [UInt8](repeating: 1, count: 2048)), maxMessage: 1024), 1009)
    }

    func testParserReportsEachViolationWithItsCode() {
        var p = WebSocketParser(maxMessageBytes: 16)
        XCTAssertThrowsError(try p.next(WSClient.frame(1, [0xFF]), from: 0)) { XCTAssertEqual(($0 as? WebSocketViolation)?.code, 1007) }
        p = WebSocketParser()
        XCTAssertThrowsError(try p.next(WSClient.frame(8, [0x03, 0xED]), from: 0)) { XCTAssertEqual(($0 as? WebSocketViolation)?.code, 1002) }  // 1005 may not be sent
        p = WebSocketParser()
        let partial = Array(WSClient.frame(1, Array("hello".utf8)).prefix(4))
        XCTAssertNil(try p.next(partial, from: 0))
    }

    // MARK: An independent client

    func testPythonWebsocketsClientExchangesFragmentedBinaryPingAndClose() throws {
        try serveEcho()
        let python = Repo.path(".venv-test/bin/python")
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return XCTFail("the test tools are missing: run scripts/test-tools.sh (make test does)")
        }
        let (status, text) = try ServeProcess.run(python, [Repo.path("Tests/Scripts/ws_echo_check.py"), "ws://127.0.0.1:\(port)/echo"])
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("ok"), text)
    }
}
