import APIRuntime
import XCTest

/// Path templates as http.proto specifies them: one test per rule.
final class PathTemplateTests: XCTestCase {
    func t(_ s: String) throws -> PathTemplate { try PathTemplate(s) }

    func testAVariableMatchesOneSegment() throws {
        let p = try t("/v1/runs/{run_id}")
        XCTAssertEqual(p.match("/v1/runs/r1"), ["run_id": "r1"])
        XCTAssertNil(p.match("/v1/runs/r1/events"))
        XCTAssertNil(p.match("/v1/runs/"))
    }

    func testAVariableWithAPatternCoversItsSegments() throws {
        let p = try t("/v1/{name=shelves/*/books/*}")
        XCTAssertEqual(p.match("/v1/shelves/s1/books/b2"), ["name": "shelves/s1/books/b2"])
        XCTAssertNil(p.match("/v1/shelves/s1/books"))
        XCTAssertNil(p.match("/v1/racks/s1/books/b2"))
    }

    func testDoubleStarTakesTheRestOfThePath() throws {
        let p = try t("/v1/files/{path=**}")
        XCTAssertEqual(p.match("/v1/files/a/b/c.txt"), ["path": "a/b/c.txt"])
        XCTAssertEqual(p.match("/v1/files/a"), ["path": "a"])
    }

    func testAVerbIsMatchedAfterTheLastSegment() throws {
        let p = try t("/v1/runs/{run_id}:cancel")
        XCTAssertEqual(p.match("/v1/runs/r1:cancel"), ["run_id": "r1"])
        XCTAssertNil(p.match("/v1/runs/r1"))
        XCTAssertNil(p.match("/v1/runs/r1:pause"))
        XCTAssertEqual(p.verb, "cancel")
    }

    func testASingleSegmentVariableDecodesEveryEscape() throws {
        XCTAssertEqual(try t("/v1/runs/{run_id}").match("/v1/runs/a%2Fb%20c"), ["run_id": "a/b c"])
        // `+` is a plus in a path (only the query treats it as a space).
        XCTAssertEqual(try t("/v1/runs/{run_id}").match("/v1/runs/a+b"), ["run_id": "a+b"])
    }

    func testAMultiSegmentVariableKeepsReservedEscapes() throws {
        XCTAssertEqual(try t("/v1/{name=shelves/*}").match("/v1/shelves/a%2Fb%20c"), ["name": "shelves/a%2Fb c"])
        XCTAssertEqual(try t("/v1/files/{path=**}").match("/v1/files/x%3Fy/z"), ["path": "x%3Fy/z"])
    }

    func testExpandingIsTheInverseOfMatching() throws {
        let p = try t("/v1/runs/{run_id}/events")
        let path = p.expand(["run_id": "a/b c"])
        XCTAssertEqual(path, "/v1/runs/a%2Fb%20c/events")
        XCTAssertEqual(p.match(Substring(path)), ["run_id": "a/b c"])
        let multi = try t("/v1/{name=shelves/*}:get")
        XCTAssertEqual(multi.expand(["name": "shelves/s 1"]), "/v1/shelves/s%201:get")
    }

    func testMalformedTemplatesAreRejected() {
        for bad in ["v1/runs", "/v1/runs/", "/v1/{run_id", "/v1/**/x", "/v1/{a}/{a}", "/v1/x{a}", "/v1/{a=}", "/v1/{1a}", "/v1/runs:", "/v1/{a={b}}"] {
            XCTAssertThrowsError(try PathTemplate(bad), bad)
        }
    }

    func testTemplatesThatCanMatchOnePathOverlap() throws {
        XCTAssertTrue(try t("/v1/runs/{id}").overlaps(try t("/v1/runs/{run_id}")))
        XCTAssertTrue(try t("/v1/runs/{id}").overlaps(try t("/v1/runs/latest")))
        XCTAssertTrue(try t("/v1/files/{p=**}").overlaps(try t("/v1/files/a/b")))
        XCTAssertFalse(try t("/v1/runs/{id}").overlaps(try t("/v1/runs/{id}/events")))
        XCTAssertFalse(try t("/v1/runs/{id}").overlaps(try t("/v1/workers/{id}")))
        XCTAssertFalse(try t("/v1/runs/{id}:cancel").overlaps(try t("/v1/runs/{id}")))
    }
}
