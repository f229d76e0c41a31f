import APIRuntime
import Foundation
import Generated
import HTTPServer
import ProtoWire
import ServiceKit
import TestContracts
import TestSupport
import XCTest

/// The binding rules of http.proto on real sockets, one test per rule, against
/// the fixture BindingService (Tests/Fixtures/proto): a handler that echoes the
/// typed request it was given.
final class BindingRuleTests: XCTestCase {
    struct Echo: FixturesV1.BindingServiceHandler {
        func answer(_ rpc: String, _ r: FixturesV1.BindingRequest) -> APIResponse<FixturesV1.BindingResponse> {
            var out = FixturesV1.BindingResponse()
            out.rpc = rpc
            out.echo = r
            return APIResponse(out)
        }
        func getBook(_ r: FixturesV1.BindingRequest, context: RequestContext) async throws -> APIResponse<FixturesV1.BindingResponse> { answer("GetBook", r) }
        func echo(_ r: FixturesV1.BindingRequest, context: RequestContext) async throws -> APIResponse<FixturesV1.BindingResponse> { answer("Echo", r) }
        func updateShelf(_ r: FixturesV1.BindingRequest, context: RequestContext) async throws -> APIResponse<FixturesV1.BindingResponse> { answer("UpdateShelf", r) }
        func files(_ r: FixturesV1.BindingRequest, context: RequestContext) async throws -> APIResponse<FixturesV1.BindingResponse> { answer("Files", r) }
        func archive(_ r: FixturesV1.BindingRequest, context: RequestContext) async throws -> APIResponse<FixturesV1.BindingResponse> { answer("Archive", r) }
        func search(_ r: FixturesV1.BindingRequest, context: RequestContext) async throws -> APIResponse<FixturesV1.BindingResponse> { answer("Search", r) }
        func strict(_ r: FixturesV1.StrictRequest, context: RequestContext) async throws -> APIResponse<FixturesV1.BindingResponse> {
            var out = FixturesV1.BindingResponse()
            out.rpc = "Strict:" + r.requiredText
            return APIResponse(out)
        }
        func ping(_ r: FixturesV1.StrictRequest, context: RequestContext) async throws -> APIResponse<FixturesV1.BindingResponse> {
            var out = FixturesV1.BindingResponse()
            out.rpc = "Ping:" + r.requiredText
            return APIResponse(out)
        }
    }

    var server: HTTPServer?
    var port = 0

    override func setUp() async throws {
        var router = Router()
        RouteBinder().mount(FixturesV1.BindingService.bind(Echo()), on: &router)
        var c = ServerConfig()
        c.port = 0
        c.loops = 1
        let s = HTTPServer(config: c, router: router, logger: Logger(level: .error), errors: ServiceError.rendering)
        port = try s.start()
        server = s
    }

    override func tearDown() async throws { await server?.shutdown(deadline: 2) }

    func call(_ method: String, _ target: String, _ body: String = "", contentType: String = "application/json") throws -> RawClient.Response {
        let c = try RawClient(port: port)
        c.send("\(method) \(target) HTTP/1.1\r\nHost: t\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        return try XCTUnwrap(c.readResponse())
    }

    /// The typed response (REST JSON, wire words accepted).
    func echoed(_ method: String, _ target: String, _ body: String = "", status: Int = 200, file: StaticString = #filePath, line: UInt = #line) throws -> FixturesV1.BindingResponse {
        let r = try call(method, target, body)
        XCTAssertEqual(r.status, status, r.text, file: file, line: line)
        return try FixturesV1.BindingResponse(jsonBytes: r.body, options: JSONDecodingOptions(acceptEnumWireWords: true))
    }

    func testPathVariablesFillTheirFields() throws {
        let r = try echoed("GET", "/v1/shelves/s1/books/b2")
        XCTAssertEqual(r.rpc, "GetBook")
        XCTAssertEqual(r.echo?.name, "shelves/s1/books/b2")
    }

    func testASingleSegmentVariableIsFullyPercentDecoded() throws {
        XCTAssertEqual(try echoed("POST", "/v1/echo/a%2Fb%20c", "{}", status: 201).echo?.shelfId, "a/b c")
    }

    func testAMultiSegmentVariableKeepsReservedEscapes() throws {
        XCTAssertEqual(try echoed("GET", "/v1/shelves/s%2F1/books/b%20c").echo?.name, "shelves/s%2F1/books/b c")
    }

    func testTheWholeBodyFillsTheRequestWithBodyStar() throws {
        let r = try echoed("POST", "/v1/echo/s", #"{"name":"n","count":"7","tags":["a","b"],"page":{"size":3},"hue":"HUE_BLUE"}"#, status: 201)
        XCTAssertEqual(r.echo?.name, "n")
        XCTAssertEqual(r.echo?.count, 7)
        XCTAssertEqual(r.echo?.tags, ["a", "b"])
        XCTAssertEqual(r.echo?.page?.size, 3)
        XCTAssertEqual(r.echo?.hue, .blue)
    }

    func testPathVariablesWinOverTheBody() throws {
        XCTAssertEqual(try echoed("POST", "/v1/echo/from-path", #"{"shelfId":"from-body"}"#, status: 201).echo?.shelfId, "from-path")
    }

    func testANamedBodyFillsThatFieldAndTheQueryTheRest() throws {
        let r = try echoed("PATCH", "/v1/shelves/s9?name=n&count=12&flag=true&note=x", #"{"name":"shelf name","title":"t"}"#)
        XCTAssertEqual(r.rpc, "UpdateShelf")
        XCTAssertEqual(r.echo?.shelfId, "s9")
        XCTAssertEqual(r.echo?.shelf?.name, "shelf name")
        XCTAssertEqual(r.echo?.shelf?.title, "t")
        XCTAssertEqual(r.echo?.name, "n")
        XCTAssertEqual(r.echo?.count, 12)
        XCTAssertEqual(r.echo?.flag, true)
        XCTAssertEqual(r.echo?.note, "x")
    }

    func testRepeatedFieldsComeFromRepeatedParameters() throws {
        XCTAssertEqual(try echoed("GET", "/v1/search?tags=a&tags=b%20c&tags=d").echo?.tags, ["a", "b c", "d"])
    }

    func testNestedFieldsComeFromDottedParameters() throws {
        let r = try echoed("GET", "/v1/search?page.size=25&page.token=abc")
        XCTAssertEqual(r.echo?.page?.size, 25)
        XCTAssertEqual(r.echo?.page?.token, "abc")
    }

    func testQueryParametersTakeProtoOrJSONNames() throws {
        XCTAssertEqual(try echoed("GET", "/v1/search?shelf_id=a").echo?.shelfId, "a")
        XCTAssertEqual(try echoed("GET", "/v1/search?shelfId=b").echo?.shelfId, "b")
    }

    func testTheLastOfARepeatedSingularParameterWins() throws {
        XCTAssertEqual(try echoed("GET", "/v1/search?name=a&name=b").echo?.name, "b")
    }

    func testEnumsAcceptTheirWireWordAndTheirName() throws {
        XCTAssertEqual(try echoed("GET", "/v1/search?hue=red").echo?.hue, .red)
        XCTAssertEqual(try echoed("GET", "/v1/search?hue=HUE_BLUE").echo?.hue, .blue)
        // REST bodies write the wire word where the contract declares one, the name elsewhere.
        XCTAssertTrue(try call("GET", "/v1/search?hue=HUE_RED").text.contains(#""hue":"red""#))
        XCTAssertTrue(try call("GET", "/v1/search?hue=2").text.contains(#""hue":"HUE_BLUE""#))
    }

    func testAnUnknownQueryParameterIs400() throws {
        let r = try call("GET", "/v1/search?colour=red")
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(r.text.contains("unknown query parameter colour"), r.text)
    }

    func testABadQueryValueIs400() throws {
        for q in ["count=abc", "flag=maybe", "page.size=1.5", "hue=purple"] {
            let r = try call("GET", "/v1/search?\(q)")
            XCTAssertEqual(r.status, 400, q)
            XCTAssertTrue(r.text.contains("invalid_request"), r.text)
        }
    }

    func testDoubleStarTakesTheRestOfThePath() throws {
        XCTAssertEqual(try echoed("GET", "/v1/files/a/b/c.txt").echo?.name, "a/b/c.txt")
    }

    func testAVerbSelectsItsRoute() throws {
        let r = try echoed("POST", "/v1/shelves/s3:archive", "{}")
        XCTAssertEqual(r.rpc, "Archive")
        XCTAssertEqual(r.echo?.shelfId, "s3")
    }

    func testAdditionalBindingsServeTheSameRpc() throws {
        let r = try echoed("GET", "/v1/shelves/s4/search?name=q")
        XCTAssertEqual(r.rpc, "Search")
        XCTAssertEqual(r.echo?.shelfId, "s4")
        XCTAssertEqual(r.echo?.name, "q")
    }

    func testTheDeclaredSuccessStatusIsAnswered() throws {
        XCTAssertEqual(try call("POST", "/v1/echo/s", "{}").status, 201)
    }

    func testRequiredFieldsAreCheckedAfterBinding() throws {
        for body in ["{}", #"{"requiredText":"  "}"#, #"{"other":"x"}"#] {
            let r = try call("POST", "/v1/strict", body)
            XCTAssertEqual(r.status, 400, body)
            XCTAssertTrue(r.text.contains("required_text is required") && r.text.contains("required_text: required"), r.text)
        }
        XCTAssertEqual(try echoed("POST", "/v1/strict", #"{"required_text":"ok"}"#).rpc, "Strict:ok")
    }

    func testAProtobufBodyBindsLikeJSON() throws {
        var req = FixturesV1.BindingRequest()
        req.name = "bin"
        req.shelfId = "ignored"
        let c = try RawClient(port: port)
        let body = req.serializedBytes()
        c.send(Array("POST /v1/echo/p HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-protobuf\r\nAccept: application/x-protobuf\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
        let r = try XCTUnwrap(c.readResponse())
        XCTAssertEqual(r.status, 201)
        let out = try FixturesV1.BindingResponse(serializedBytes: r.body)
        XCTAssertEqual(out.echo?.name, "bin")
        XCTAssertEqual(out.echo?.shelfId, "p")
    }

    func testAnRpcWithoutABindingIsServedOverConnectOnly() throws {
        let r = try call("POST", "/fixtures.v1.BindingService/Ping", #"{"requiredText":"hi"}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertEqual(try FixturesV1.BindingResponse(jsonBytes: r.body).rpc, "Ping:hi")
    }
}
