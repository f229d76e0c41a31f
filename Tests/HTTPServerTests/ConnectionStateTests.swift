@testable import HTTPServer
import XCTest

/// The connection's state machine as a value: one test per rule, no socket.
final class ConnectionStateTests: XCTestCase {
    func answer(_ status: Int = 200, keepAlive: Bool = true, stream: Bool = false) -> ConnectionState.Answer {
        let request = HTTPRequest(method: "GET", target: "/", path: "/", query: "", version: 11, headers: HTTPHeaders(), body: [])
        let response = stream ? HTTPResponse.eventStream { _ in } : HTTPResponse(status: status)
        return .init(response: response, request: request, start: 0, keepAlive: keepAlive)
    }

    func testAnswersLeaveInRequestOrderWhateverOrderTheyFinishIn() {
        var s = ConnectionState()
        let a = s.requestRead(), b = s.requestRead()
        s.answered(b, answer(202))
        XCTAssertNil(s.nextAnswer(shuttingDown: false), "the first request is not answered yet")
        s.answered(a, answer(201))
        XCTAssertEqual(s.nextAnswer(shuttingDown: false)?.0.response.status, 201)
        XCTAssertEqual(s.nextAnswer(shuttingDown: false)?.0.response.status, 202)
        XCTAssertEqual(s.pending, 0)
    }

    func testAnAnswerWithoutKeepAliveDrainsTheConnection() {
        var s = ConnectionState()
        s.answered(s.requestRead(), answer(keepAlive: false))
        let (_, close) = s.nextAnswer(shuttingDown: false)!
        XCTAssertTrue(close)
        XCTAssertEqual(s.lifecycle, .draining)
        XCTAssertFalse(s.mayParse(maxPipelineDepth: 64))
        XCTAssertTrue(s.closesWhenFlushed)
    }

    func testShutdownClosesAfterTheAnswer() {
        var s = ConnectionState()
        s.answered(s.requestRead(), answer())
        XCTAssertTrue(s.nextAnswer(shuttingDown: true)!.closeAfter)
    }

    func testAPeerThatHalfClosesStillGetsItsAnswers() {
        var s = ConnectionState()
        _ = s.requestRead()
        XCTAssertEqual(s.peerClosed(), .updateInterest, "reading pauses")
        XCTAssertTrue(s.readingPaused)
        XCTAssertEqual(s.lifecycle, .draining)
        XCTAssertFalse(s.closesWhenFlushed, "one answer is still owed")
    }

    func testAPeerThatClosesWithNothingOwedIsClosedAtOnce() {
        var s = ConnectionState()
        XCTAssertEqual(s.peerClosed(), .close)
    }

    func testAStreamHoldsBackLaterAnswersUntilItEnds() {
        var s = ConnectionState()
        let a = s.requestRead(), b = s.requestRead()
        s.answered(a, answer(stream: true))
        s.answered(b, answer())
        _ = s.nextAnswer(shuttingDown: false)
        s.streamStarted()
        XCTAssertNil(s.nextAnswer(shuttingDown: false))
        XCTAssertFalse(s.mayParse(maxPipelineDepth: 64))
        XCTAssertTrue(s.streamEnded(shuttingDown: false))
        XCTAssertNotNil(s.nextAnswer(shuttingDown: false))
    }

    func testAStreamClientThatHangsUpIsClosed() {
        var s = ConnectionState()
        s.answered(s.requestRead(), answer(stream: true))
        _ = s.nextAnswer(shuttingDown: false)
        s.streamStarted()
        XCTAssertEqual(s.peerClosed(), .close)
    }

    func testTheInterestOnlyChangesWhenItChanges() {
        var s = ConnectionState()
        XCTAssertEqual(s.setReading(true), .none)
        XCTAssertEqual(s.setReading(false), .updateInterest)
        XCTAssertEqual(s.setWriteInterest(true), .updateInterest)
        XCTAssertEqual(s.setWriteInterest(true), .none)
    }

    func testAClosedConnectionTakesNoAnswersAndClosesOnce() {
        var s = ConnectionState()
        let a = s.requestRead()
        XCTAssertTrue(s.closed())
        XCTAssertFalse(s.closed())
        s.answered(a, answer())
        XCTAssertNil(s.nextAnswer(shuttingDown: false))
        XCTAssertEqual(s.setReading(false), .none)
    }

    func testThePipelineDepthLimitsParsing() {
        var s = ConnectionState()
        _ = s.requestRead()
        _ = s.requestRead()
        XCTAssertTrue(s.mayParse(maxPipelineDepth: 3))
        XCTAssertFalse(s.mayParse(maxPipelineDepth: 2))
    }
}
