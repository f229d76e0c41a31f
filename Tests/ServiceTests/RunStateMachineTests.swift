import Generated
@testable import RuntimeCore
@testable import RuntimeService
import XCTest

/// The transition matrix of reference-system.md 2.2: all 30 status x transition pairs.
final class RunStateMachineTests: XCTestCase {
    typealias T = RunStateMachine.Transition

    func testTheFullTransitionMatrix() {
        // (from, transition, expected to) — nil means rejected.
        let table: [(RuntimeV1.RuntimeRunStatus, T, RuntimeV1.RuntimeRunStatus?)] = [
            (.created, .start, .running), (.created, .requestCancel, .canceling), (.created, .finishSucceeded, .succeeded),
            (.created, .finishFailed, .failed), (.created, .finishCanceled, .canceled),
            (.running, .start, .running), (.running, .requestCancel, .canceling), (.running, .finishSucceeded, .succeeded),
            (.running, .finishFailed, .failed), (.running, .finishCanceled, .canceled),
            (.canceling, .start, nil), (.canceling, .requestCancel, .canceling), (.canceling, .finishSucceeded, nil),
            (.canceling, .finishFailed, .failed), (.canceling, .finishCanceled, .canceled),
            (.canceled, .start, nil), (.canceled, .requestCancel, nil), (.canceled, .finishSucceeded, nil),
            (.canceled, .finishFailed, nil), (.canceled, .finishCanceled, .canceled),
            (.succeeded, .start, nil), (.succeeded, .requestCancel, nil), (.succeeded, .finishSucceeded, .succeeded),
            (.succeeded, .finishFailed, nil), (.succeeded, .finishCanceled, nil),
            (.failed, .start, nil), (.failed, .requestCancel, nil), (.failed, .finishSucceeded, nil),
            (.failed, .finishFailed, .failed), (.failed, .finishCanceled, nil),
        ]
        XCTAssertEqual(table.count, 30)
        XCTAssertEqual(table.filter { $0.2 != nil }.count, 16)
        XCTAssertEqual(RunStateMachine.allowed.count, 16)
        for (from, t, to) in table {
            if let to {
                XCTAssertEqual(try RunStateMachine.apply(t, to: from), to, "\(from) \(t)")
            } else {
                XCTAssertThrowsError(try RunStateMachine.apply(t, to: from), "\(from) \(t) must be rejected")
            }
        }
    }

    func testEventTypesMapToTransitions() throws {
        XCTAssertEqual(try RunStateMachine.transition(eventType: "run.started", finishStatus: nil), .start)
        XCTAssertEqual(try RunStateMachine.transition(eventType: "run.cancel_requested", finishStatus: nil), .requestCancel)
        XCTAssertEqual(try RunStateMachine.transition(eventType: "run.finished", finishStatus: "cancelled"), .finishCanceled)
        XCTAssertNil(try RunStateMachine.transition(eventType: "text.delta", finishStatus: nil))
        XCTAssertThrowsError(try RunStateMachine.transition(eventType: "run.finished", finishStatus: nil))
        XCTAssertThrowsError(try RunStateMachine.transition(eventType: "run.finished", finishStatus: "done"))
    }
}
