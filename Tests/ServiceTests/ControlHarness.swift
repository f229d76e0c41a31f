import APIRuntime
import ControlService
import Foundation
import Generated
import HTTPServer
import ProtoWire
@testable import RuntimeCore
@testable import RuntimeService
import ServiceKit
import Synchronization
import TestSupport
import XCTest

/// A control service (and, unless asked otherwise, a signed runtime behind
/// it) on free loopback ports with a data directory of their own; session
/// tokens minted with the control's key; responses decoded into the
/// generated types.
class ControlHarness: XCTestCase {
    var dir = ""
    var runtime: HTTPServer?
    var control: HTTPServer?
    var runtimePort = 0
    var controlPort = 0
    var service: ControlService?
    /// The runtime's router, for a control service that calls it in process.
    var runtimeRouter: Router?
    static let runtimeSecret = Array("control-test-runtime-secret".utf8)
    static let sessionKey = "control-test-session-key"
    static let syncKey = "control-test-sync-key"
    var tokens: SessionTokens { SessionTokens(key: Array(Self.sessionKey.utf8)) }
    /// Login codes the mail sink received, by address.
    let mail = MailBox()

    final class MailBox: Sendable {
        let codes = Mutex<[String: String]>([:])
        func withLock<T>(_ body: (inout [String: String]) -> T) -> T { codes.withLock { body(&$0) } }
    }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString)").path
    }

    override func tearDown() async throws {
        await control?.shutdown(deadline: 2)
        await runtime?.shutdown(deadline: 2)
        try? FileManager.default.removeItem(atPath: dir)
    }

    func startRuntime() throws {
        var config = ServiceConfig()
        config.dataDirectory = dir + "/runtime"
        config.syncTokenKey = Array(Self.syncKey.utf8)
        let core = try RuntimeCore(config: config)
        var sc = ServerConfig()
        sc.port = 0
        sc.loops = 1
        let router = Services.runtimeRouter(config: config, metrics: Metrics(), core: core, signature: RuntimeSignature(secret: Self.runtimeSecret))
        runtimeRouter = router
        let s = HTTPServer(config: sc, router: router, logger: Logger(level: .error))
        runtimePort = try s.start()
        runtime = s
    }

    /// `runtime`: whether a runtime is configured at all; `runtimeURL` overrides where.
    /// `inProcess`: control calls the runtime through its router, as `serve` does when both run in one process.
    func serve(runtime withRuntime: Bool = true, runtimeURL: String? = nil, registry: String? = nil, inProcess: Bool = false) throws {
        if withRuntime && runtimeURL == nil && runtime == nil { try startRuntime() }
        let url = runtimeURL ?? (withRuntime ? "http://127.0.0.1:\(runtimePort)" : nil)
        let env = ["OA_CONTROL_SESSION_SECRET": Self.sessionKey, "RUNTIME_SYNC_TOKEN_SIGNING_KEY": Self.syncKey]
        let sink = mail
        let svc = try ControlService(dataDirectory: dir + "/control", runtimeURL: url, runtimeSecret: Self.runtimeSecret, environment: env,
                                     metrics: Metrics(), logger: Logger(level: .error), mailSink: { email, code in sink.withLock { $0[email] = code } },
                                     runtimeRegistry: registry,
                                     localRuntime: inProcess ? runtimeRouter.map { RouterClient(router: $0, errors: ServiceError.rendering) } : nil)
        try serve(svc)
    }

    /// Serves a control service built by the test, on a free port.
    func serve(_ svc: ControlService) throws {
        var sc = ServerConfig()
        sc.port = 0
        sc.loops = 1
        let s = HTTPServer(config: sc, router: svc.router, logger: Logger(level: .error), errors: ControlErrors.rendering)
        controlPort = try s.start()
        control = s
        service = svc
    }

    /// Stops the control service and starts a new one on the same data directory.
    func restartControl() async throws {
        await control?.shutdown(deadline: 2)
        control = nil
        try serve(runtime: runtime != nil)
    }

    func session(_ user: String = "u1", org: String = "org1", device: String = "", ttl: Int64 = 3600) -> String {
        tokens.mint(userID: user, orgID: org, deviceID: device, ttl: ttl).token
    }

    @discardableResult
    func call(_ method: String, _ path: String, _ json: String? = nil, token: String? = nil, headers: [(String, String)] = []) throws -> RawClient.Response {
        let c = try RawClient(port: controlPort)
        let body = json ?? ""
        var all = headers
        if let token { all.append(("Authorization", "Bearer \(token)")) }
        let extra = all.map { "\($0.0): \($0.1)\r\n" }.joined()
        let type = json == nil ? "" : "Content-Type: application/json\r\n"
        c.send("\(method) \(path) HTTP/1.1\r\nHost: t\r\n\(extra)\(type)Content-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return try XCTUnwrap(c.readResponse())
    }

    func get(_ path: String, as user: String = "u1") throws -> RawClient.Response { try call("GET", path, token: session(user)) }
    func post(_ path: String, _ json: String, as user: String = "u1") throws -> RawClient.Response { try call("POST", path, json, token: session(user)) }

    func decode<M: ProtoMessage>(_ type: M.Type, _ r: RawClient.Response, file: StaticString = #filePath, line: UInt = #line) throws -> M {
        do { return try M(jsonBytes: r.body, options: JSONDecodingOptions(ignoreUnknownFields: false, acceptEnumWireWords: true)) } catch {
            XCTFail("\(r.status) \(r.text) does not decode as \(M.self): \(error)", file: file, line: line)
            throw error
        }
    }

    /// The control envelope of an error response.
    func envelope(_ r: RawClient.Response, file: StaticString = #filePath, line: UInt = #line) throws -> ControlV1.ControlErrorEnvelope {
        try decode(ControlV1.ControlErrorEnvelope.self, r, file: file, line: line)
    }
}
