import Foundation
import RuntimeCore
import XCTest

/// The embedded JSONL backend against every rule of the storage protocol
/// (`RuntimeStoreConformance`), each rule its own test, run on one log file
/// and again with a segment every 600 bytes (every few records), so each rule
/// also holds across segment boundaries.
final class EmbeddedStoreConformanceTests: XCTestCase {
    var dir = ""
    var suites: [RuntimeStoreConformance] {
        [RuntimeStoreConformance(dir: dir + "/one-file") { try RuntimeLedger(path: $0 + "/runtime-events.jsonl", snapshotEvery: 0) },
         RuntimeStoreConformance(dir: dir + "/segments") { try RuntimeLedger(path: $0 + "/runtime-events.jsonl", snapshotEvery: 0, segmentBytes: 600) }]
    }

    override func setUp() {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString)").path
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testAppendsGetContiguousSeqsPerRunFromOne() async throws { for s in suites { try await s.appendsGetContiguousSeqsPerRunFromOne() } }
    func testCreatingAnExistingRunIsAConflict() async throws { for s in suites { try await s.creatingAnExistingRunIsAConflict() } }
    func testTheSameKeyAndContentReplaysTheOriginal() async throws { for s in suites { try await s.theSameKeyAndContentReplaysTheOriginal() } }
    func testTheSameKeyWithDifferentContentIsAConflict() async throws { for s in suites { try await s.theSameKeyWithDifferentContentIsAConflict() } }
    func testAWrongExpectedPreviousSeqIsAConflictNamingTheActualOne() async throws { for s in suites { try await s.aWrongExpectedPreviousSeqIsAConflictNamingTheActualOne() } }
    func testIdempotencyIsCheckedBeforeTheExpectedSeq() async throws { for s in suites { try await s.idempotencyIsCheckedBeforeTheExpectedSeq() } }
    func testTheStateMachineRunsAgainstTheStoredRun() async throws { for s in suites { try await s.theStateMachineRunsAgainstTheStoredRun() } }
    func testARefusedWriteLeavesNothingBehind() async throws { for s in suites { try await s.aRefusedWriteLeavesNothingBehind() } }
    func testConcurrentAppendsGetDistinctContiguousSeqs() async throws { for s in suites { try await s.concurrentAppendsGetDistinctContiguousSeqs() } }
    func testCancelIsRecordedOnce() async throws { for s in suites { try await s.cancelIsRecordedOnce() } }
    func testDeliveryEventsAndToolCallsAreRecordedOnce() async throws { for s in suites { try await s.deliveryEventsAndToolCallsAreRecordedOnce() } }
    func testHeadsFollowEachCommittedWrite() async throws { for s in suites { try await s.headsFollowEachCommittedWrite() } }
    func testHistoryIsReadInPagesAfterASeq() async throws { for s in suites { try await s.historyIsReadInPagesAfterASeq() } }
    func testWorkerChangesAreTheFeedsWorkerRecordsWithTheSameCursors() async throws { for s in suites { try await s.workerChangesAreTheFeedsWorkerRecordsWithTheSameCursors() } }
    func testTheFeedGivesEveryRecordOnceInCommitOrder() async throws { for s in suites { try await s.theFeedGivesEveryRecordOnceInCommitOrder() } }
    func testACursorResumesRightAfterItsRecordAcrossARestart() async throws { for s in suites { try await s.aCursorResumesRightAfterItsRecordAcrossARestart() } }
    func testACursorThisStoreNeverIssuedIsRefused() async throws { for s in suites { try await s.aCursorThisStoreNeverIssuedIsRefused() } }
    func testSubscribersGetEachCommittedBatchInOrder() async throws { for s in suites { try await s.subscribersGetEachCommittedBatchInOrder() } }
    /// The embedded log's own rule on top of the protocol's: lsns run 1, 2, 3, … without gaps.
    func testTheEmbeddedFeedNumbersRecordsContiguously() async throws {
        let ledger = try RuntimeLedger(path: dir + "/contiguous/runtime-events.jsonl", snapshotEvery: 0)
        _ = try await ledger.createRun(runID: "r")
        for _ in 0..<3 { _ = try await ledger.append(runID: "r", eventType: "tool", payload: nil) }
        XCTAssertEqual(try ledger.changes(after: .start, limit: 100).records.map(\.lsn), [1, 2, 3, 4, 5])
    }
    func testEverythingAcknowledgedSurvivesARestart() async throws { for s in suites { try await s.everythingAcknowledgedSurvivesARestart() } }
}
