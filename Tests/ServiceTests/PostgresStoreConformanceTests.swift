import Foundation
import PostgresClient
@testable import RuntimeCore
import TestSupport
import XCTest

/// The PostgreSQL backend against every rule of the storage protocol
/// (`RuntimeStoreConformance`), each rule its own test, each on a database
/// of its own in the throwaway cluster. A restart is a new store on the same
/// database (the old one closed first, as a process exit would).
final class PostgresStoreConformanceTests: XCTestCase {
    var url = ""
    var opened: [PostgresStore] = []

    override func setUpWithError() throws {
        do { url = try PostgresCluster.freshDatabase(prefix: "conf").url } catch { throw XCTSkip("\(error)") }
    }
    override func tearDown() {
        for s in opened { s.close() }
        opened = []
    }

    var suite: RuntimeStoreConformance {
        RuntimeStoreConformance(dir: "") { [self] _ in
            for s in opened { s.close() }
            let store = try PostgresStore(config: try PostgresConfig(url: url), poolSize: 2)
            opened.append(store)
            return store
        }
    }

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
    func testWorkerChangesAreTheFeedsWorkerRecordsWithTheSameCursors() async throws { try await suite.workerChangesAreTheFeedsWorkerRecordsWithTheSameCursors() }
    func testTheFeedGivesEveryRecordOnceInCommitOrder() async throws { try await suite.theFeedGivesEveryRecordOnceInCommitOrder() }
    func testACursorResumesRightAfterItsRecordAcrossARestart() async throws { try await suite.aCursorResumesRightAfterItsRecordAcrossARestart() }
    func testACursorThisStoreNeverIssuedIsRefused() async throws { try await suite.aCursorThisStoreNeverIssuedIsRefused() }
    func testSubscribersGetEachCommittedBatchInOrder() async throws { try await suite.subscribersGetEachCommittedBatchInOrder() }
    func testEverythingAcknowledgedSurvivesARestart() async throws { try await suite.everythingAcknowledgedSurvivesARestart() }
}
