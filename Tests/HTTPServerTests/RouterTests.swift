@testable import HTTPServer
import XCTest

/// The router's rules, checked on `match` directly: the first route added that
/// matches wins, whatever its first segment; a path that matches only with
/// other methods is 405 naming all of them; ruling routes out by segment count
/// and literal hashes never changes an answer.
final class RouterTests: XCTestCase {
    private func router() -> Router {
        var r = Router()
        let ok: Router.Handler = .sync { _ in HTTPResponse(status: 200) }
        r.add("GET", "/internal/v1/runs/:run_id", ok)
        r.add("GET", "/:anything/v1/runs/:run_id", ok)                   // any first segment, added after
        r.add("POST", "/internal/v1/runs/:run_id", ok)
        r.add("DELETE", "/x/:id", matcher: { $0.count == 2 && $0[1] == "special" ? ["id": "special"] : nil }, ok)
        r.add("PUT", "/internal/v1/runs/:run_id", matcher: { $0.count == 4 && $0[0] == "internal" ? ["run_id": String($0[3])] : nil }, ok)
        return r
    }

    private func pattern(_ m: Router.Match) -> String? { if case .found(_, _, let p) = m { return p } else { return nil } }
    private func allowed(_ m: Router.Match) -> [String]? { if case .methodNotAllowed(let a) = m { return a } else { return nil } }

    func testTheFirstRouteAddedThatMatchesWins() {
        let r = router()
        XCTAssertEqual(pattern(r.match(method: "GET", path: "/internal/v1/runs/a")), "/internal/v1/runs/:run_id")
        XCTAssertEqual(pattern(r.match(method: "GET", path: "/other/v1/runs/a")), "/:anything/v1/runs/:run_id")
    }

    func testAMatcherRouteWithAnyFirstSegmentIsTriedForEveryPath() {
        XCTAssertEqual(pattern(router().match(method: "DELETE", path: "/zzz/special")), "/x/:id")
    }

    func testAPathMatchingOnlyOtherMethodsIs405NamingThemAll() {
        XCTAssertEqual(allowed(router().match(method: "PATCH", path: "/internal/v1/runs/a")), ["GET", "HEAD", "POST", "PUT"])
        XCTAssertEqual(allowed(router().match(method: "PATCH", path: "/other/v1/runs/a")), ["GET", "HEAD"])
    }

    func testEmptySegmentsAreIgnoredBySimplePatterns() {
        XCTAssertEqual(pattern(router().match(method: "POST", path: "//internal/v1/runs/a/")), "/internal/v1/runs/:run_id")
    }

    func testAnUnknownPathIs404() {
        guard case .notFound = router().match(method: "GET", path: "/nope") else { return XCTFail("expected 404") }
    }
}
