import Foundation
import RuntimeCore
import XCTest

/// The embedded JSONL backend against every rule of the storage protocol
/// (`RuntimeStoreConformance`), each rule its own test.
final class EmbeddedStoreConformanceTests: XCTestCase {
    var dir = ""
    var suite: RuntimeStoreConformance {
        RuntimeStoreConformance(dir: dir) { try RuntimeLedger(path: $0 + "/runtime-events.jsonl", snapshotEvery: 0) }
    }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testAppendsGetContiguousSeqsPerRunFromOne() async throws { try await suite.appendsGetContiguousSeqsPerRunFromOne() }
    func testCreatingAnExistingRunIsAConflict() async throws { try await suite.creatingAnExistingRunIsAConflict() }
    func testTheSameKeyAndContentReplaysTheOriginal() async throws { try await suite.theSameKeyAndContentReplaysTheOriginal() }
    func testTheSameKeyWithDifferentContentIsAConflict() async throws { try await suite.theSameKeyWithDifferentContentIsAConflict() }
    func testAWrongExpectedPreviousSeqIsAConflictNamingTheActualOne() async throws { try await suite.aWrongExpectedPreviousSeqIsAConflictNamingTheActualOne() }
    func testIdempotencyIsCheckedBeforeTheExpectedSeq() async throws { try await suite.idempotencyIsCheckedBeforeTheExpectedSeq() }
    func testTheStateMachineRunsAgainstTheStoredRun() async throws { try await suite.theStateMachineRunsAgainstTheStoredRun() }
    func testARefusedWriteLeavesNothingBehind() async throws { try await suite.aRefusedWriteLeavesNothingBehind() }
    func testConcurrentAppendsGetDistinctContiguousSeqs() async throws { try await suite.concurrentAppendsGetDistinctContiguousSeqs() }
    func testCancelIsRecordedOnce() async throws { try await suite.cancelIsRecordedOnce() }
    func testDeliveryEventsAndToolCallsAreRecordedOnce() async throws { try await suite.deliveryEventsAndToolCallsAreRecordedOnce() }
    func testHeadsFollowEachCommittedWrite() async throws { try await suite.headsFollowEachCommittedWrite() }
    func testHistoryIsReadInPagesAfterASeq() async throws { try await suite.historyIsReadInPagesAfterASeq() }
    func testTheFeedGivesEveryRecordOnceInCommitOrder() async throws { try await suite.theFeedGivesEveryRecordOnceInCommitOrder() }
    func testACursorResumesRightAfterItsRecordAcrossARestart() async throws { try await suite.aCursorResumesRightAfterItsRecordAcrossARestart() }
    func testACursorThisStoreNeverIssuedIsRefused() async throws { try await suite.aCursorThisStoreNeverIssuedIsRefused() }
    func testSubscribersGetEachCommittedBatchInOrder() async throws { try await suite.subscribersGetEachCommittedBatchInOrder() }
    func testEverythingAcknowledgedSurvivesARestart() async throws { try await suite.everythingAcknowledgedSurvivesARestart() }
}

/// The same rules with a segment every 600 bytes (every few records), so
/// each rule also holds across segment boundaries.
final class SegmentedStoreConformanceTests: XCTestCase {
    var dir = ""
    var suite: RuntimeStoreConformance {
        RuntimeStoreConformance(dir: dir) { try RuntimeLedger(path: $0 + "/runtime-events.jsonl", snapshotEvery: 0, segmentBytes: 600) }
    }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testAppendsGetContiguousSeqsPerRunFromOne() async throws { try await suite.appendsGetContiguousSeqsPerRunFromOne() }
    func testCreatingAnExistingRunIsAConflict() async throws { try await suite.creatingAnExistingRunIsAConflict() }
    func testTheSameKeyAndContentReplaysTheOriginal() async throws { try await suite.theSameKeyAndContentReplaysTheOriginal() }
    func testTheSameKeyWithDifferentContentIsAConflict() async throws { try await suite.theSameKeyWithDifferentContentIsAConflict() }
    func testAWrongExpectedPreviousSeqIsAConflictNamingTheActualOne() async throws { try await suite.aWrongExpectedPreviousSeqIsAConflictNamingTheActualOne() }
    func testIdempotencyIsCheckedBeforeTheExpectedSeq() async throws { try await suite.idempotencyIsCheckedBeforeTheExpectedSeq() }
    func testTheStateMachineRunsAgainstTheStoredRun() async throws { try await suite.theStateMachineRunsAgainstTheStoredRun() }
    func testARefusedWriteLeavesNothingBehind() async throws { try await suite.aRefusedWriteLeavesNothingBehind() }
    func testConcurrentAppendsGetDistinctContiguousSeqs() async throws { try await suite.concurrentAppendsGetDistinctContiguousSeqs() }
    func testCancelIsRecordedOnce() async throws { try await suite.cancelIsRecordedOnce() }
    func testDeliveryEventsAndToolCallsAreRecordedOnce() async throws { try await suite.deliveryEventsAndToolCallsAreRecordedOnce() }
    func testHeadsFollowEachCommittedWrite() async throws { try await suite.headsFollowEachCommittedWrite() }
    func testHistoryIsReadInPagesAfterASeq() async throws { try await suite.historyIsReadInPagesAfterASeq() }
    func testTheFeedGivesEveryRecordOnceInCommitOrder() async throws { try await suite.theFeedGivesEveryRecordOnceInCommitOrder() }
    func testACursorResumesRightAfterItsRecordAcrossARestart() async throws { try await suite.aCursorResumesRightAfterItsRecordAcrossARestart() }
    func testACursorThisStoreNeverIssuedIsRefused() async throws { try await suite.aCursorThisStoreNeverIssuedIsRefused() }
    func testSubscribersGetEachCommittedBatchInOrder() async throws { try await suite.subscribersGetEachCommittedBatchInOrder() }
    func testEverythingAcknowledgedSurvivesARestart() async throws { try await suite.everythingAcknowledgedSurvivesARestart() }
}
