import APIRuntime
import ServiceKit
import Foundation
import Generated
import HTTPServer
@testable import RuntimeCore
@testable import RuntimeService
import TestSupport
import XCTest

/// A runtime service on a free loopback port with a data directory of its own,
/// and signed JSON requests to it. Test classes of the service inherit it.
class ServiceHarness: XCTestCase {
    var dir = ""
    var server: HTTPServer?
    var port = 0
    static let secret = Array("routes-test-secret".utf8)
    /// A fresh token per request (nonces are single-use).
    func token(_ claims: RuntimeV1.RuntimeSignatureClaims = RuntimeSignature.claims()) -> String { RuntimeSignature.sign(claims, secret: Self.secret) }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("routes-\(UUID().uuidString)").path
    }

    override func tearDown() async throws {
        await server?.shutdown(deadline: 2)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    func serve(writeMode: String = "rust_active", configure: (inout ServiceConfig) -> Void = { _ in }) throws -> RuntimeCore {
        var config = ServiceConfig()
        config.dataDirectory = dir
        config.authorityWriteMode = writeMode
        config.streamHeartbeatMs = 200
        configure(&config)
        let core = try RuntimeCore(config: config)
        var sc = ServerConfig()
        sc.port = 0
        sc.loops = 1
        let s = HTTPServer(config: sc, router: Services.runtimeRouter(config: config, metrics: Metrics(), core: core, signature: RuntimeSignature(secret: Self.secret)), logger: Logger(level: .error))
        port = try s.start()
        server = s
        return core
    }

    /// A request signed with a fresh token unless `headers` carries its own signature.
    func call(_ method: String, _ path: String, _ json: String? = nil, headers: [(String, String)] = []) throws -> RawClient.Response {
        let c = try RawClient(port: port)
        let body = json ?? ""
        var all = headers
        if !all.contains(where: { $0.0 == RuntimeSignature.header }) { all.append((RuntimeSignature.header, token())) }
        let extra = all.filter { !$0.1.isEmpty }.map { "\($0.0): \($0.1)\r\n" }.joined()
        c.send("\(method) \(path) HTTP/1.1\r\nHost: t\r\n\(extra)Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return try XCTUnwrap(c.readResponse())
    }
    func post(_ path: String, _ json: String, headers: [(String, String)] = []) throws -> RawClient.Response { try call("POST", path, json, headers: headers) }
    func get(_ path: String, headers: [(String, String)] = []) throws -> RawClient.Response { try call("GET", path, headers: headers) }

    func object(_ r: RawClient.Response) throws -> GoogleProtobuf.Value { try GoogleProtobuf.Value(jsonBytes: r.body) }
    func errorCode(_ r: RawClient.Response) -> String? {
        guard let v = try? object(r), let e = JSONValue.field(v, "error") else { return nil }
        return JSONValue.stringField(e, "code")
    }


    /// Opens an SSE stream; returns the client after the response head (status 200), or the error response.
    func openStream(_ path: String, headers: [(String, String)] = []) throws -> (RawClient, RawClient.Response) {
        let c = try RawClient(port: port)
        var all = headers
        if !all.contains(where: { $0.0 == RuntimeSignature.header }) { all.append((RuntimeSignature.header, token())) }
        let extra = all.map { "\($0.0): \($0.1)\r\n" }.joined()
        c.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\(extra)\r\n")
        let head = try XCTUnwrap(c.readResponse(head: true))
        return (c, head)
    }

    /// The `id:` values of the complete events (ended by a blank line) in raw stream text, in order.
    func ids(_ text: String) -> [UInt64] {
        let complete = text.components(separatedBy: "\n\n").dropLast()
        return complete.flatMap { $0.components(separatedBy: "\n") }
            .compactMap { $0.hasPrefix("id: ") ? UInt64($0.dropFirst(4).trimmingCharacters(in: .whitespacesAndNewlines)) : nil }
    }
}

/// Domain errors as the service layer answers them (its one mapping), so tests
/// can assert the status a client sees.
extension APIError {
    var status: Int { ServiceError(self).status }
    var response: HTTPResponse { ServiceError(self).response }
}
