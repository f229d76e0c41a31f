import APIRuntime
import Foundation
import Generated
@testable import RuntimeCore
import TestSupport
import XCTest

/// GET /internal/v1/khala/topics/{topic}/messages: one test per rule of
/// reference-system.md 2.6, in its order.
final class KhalaPollTests: KhalaHarness {
    func testPollAnswersMessagesAfterTheCursorSortedBySequenceWithEveryField() throws {
        try serve()
        try run("r1", events: 4)
        let p = try page(poll("run:r1:events", "after_seq=2", headers: bearer(claims())))
        XCTAssertEqual(p.topic, "run:r1:events")
        XCTAssertEqual(p.driver, "embedded")
        XCTAssertEqual(p.messages.map(\.sequence), [3, 4, 5])
        XCTAssertEqual(p.messages.map(\.kind), ["run.step", "run.step", "run.step"])
        XCTAssertEqual(p.messages.first?.topic, "run:r1:events")
        XCTAssertNotNil(p.messages.first?.publishedAt)
        XCTAssertEqual(p.oldestAvailableCursor, 0)
        XCTAssertEqual(p.headCursor, 5)
        XCTAssertEqual(p.queueDepth, 5)
        XCTAssertEqual(p.nextCursor, 5)
        XCTAssertTrue(p.replayComplete)
        XCTAssertEqual(p.limitApplied, 100)
        XCTAssertEqual(p.consumerLag, 3)
        XCTAssertEqual(p.slowConsumerMaxStrikes, 3)
        XCTAssertEqual(p.outboundQueueLimit, 200)
        XCTAssertTrue((400...650).contains(p.recommendedReconnectBackoffMs))
    }

    func testPollOfAnEmptyTopicHasNoCursorsAndIsComplete() throws {
        try serve()
        let p = try page(poll("run:nothing:events", headers: bearer(claims())))
        XCTAssertTrue(p.messages.isEmpty)
        XCTAssertNil(p.oldestAvailableCursor)
        XCTAssertNil(p.headCursor)
        XCTAssertTrue(p.replayComplete)
    }

    func testCursorAheadOfTheHeadIsAnEmptyPageNotAnError() throws {
        try serve()
        try run("r1", events: 1)
        let p = try page(poll("run:r1:events", "after_seq=99", headers: bearer(claims())))
        XCTAssertTrue(p.messages.isEmpty)
        XCTAssertEqual(p.nextCursor, 99)
    }

    // MARK: 1. Origin policy

    func testOriginPolicyDeniesUntrustedBrowserOrigins() throws {
        try serve()
        let r = try poll("run:r1:events", headers: bearer(claims()) + [("origin", "https://evil.example")])
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(try envelope(r).code, "forbidden_origin")
    }

    func testOriginPolicyAllowsOpenAgentsOriginAndRequestsWithoutOne() throws {
        try serve()
        try run("r1")
        XCTAssertEqual(try poll("run:r1:events", headers: bearer(claims()) + [("origin", "https://openagents.com")]).status, 200)
        usleep(260_000)
        XCTAssertEqual(try poll("run:r1:events", headers: bearer(claims())).status, 200)
    }

    func testOriginIsCheckedBeforeTheToken() throws {
        try serve()
        let r = try poll("run:r1:events", headers: [("origin", "https://evil.example")])
        XCTAssertEqual(try envelope(r).code, "forbidden_origin")
    }

    // MARK: 2. Sync token

    func reason(_ headers: [(String, String)]) throws -> (Int, String) {
        let r = try poll("run:r1:events", headers: headers)
        return (r.status, try envelope(r).reasonCode)
    }

    func testSyncTokenFailuresAre401WithTheirReasonCodes() throws {
        try serve(configure: { $0.khala.revokedJTIs = ["revoked-jti"] })
        XCTAssertEqual(try reason([]).1, "missing_authorization")
        XCTAssertEqual(try reason([("authorization", "Basic abc")]).1, "invalid_authorization_scheme")
        var c = claims(); c.removeValue(forKey: "iat")
        XCTAssertEqual(try reason(bearer(c)).1, "missing_iat")
        XCTAssertEqual(try reason(bearer(claims(iatOffset: -301, ttl: 3600))).1, "token_too_old")
        XCTAssertEqual(try reason(bearer(claims(jti: nil))).1, "missing_jti")
        XCTAssertEqual(try reason(bearer(claims(jti: "revoked-jti"))).1, "token_revoked")
        XCTAssertEqual(try reason(bearer(claims(iatOffset: -100, ttl: 50))).1, "token_expired")
        XCTAssertEqual(try reason([("authorization", "Bearer " + (try syncToken(claims(), key: Array("other-key".utf8))))]).1, "invalid_token")
        XCTAssertEqual(try reason([("authorization", "Bearer not.a.jwt")]).0, 401)
        let r = try poll("run:r1:events", headers: [])
        XCTAssertEqual(r.status, 401)
        XCTAssertEqual(try envelope(r).code, "unauthorized")
        XCTAssertEqual(try envelope(r).message, "khala sync authorization failed")
    }

    func testSyncTokenIssuerAndAudienceAreChecked() throws {
        try serve()
        var c = claims(); c["iss"] = "https://elsewhere.example"
        XCTAssertEqual(try reason(bearer(c)).1, "invalid_token")
        c = claims(); c["aud"] = "someone-else"
        XCTAssertEqual(try reason(bearer(c)).1, "invalid_token")
    }

    func testRevocationIsCheckedBeforeExpiry() throws {
        try serve(configure: { $0.khala.revokedJTIs = ["gone"] })
        XCTAssertEqual(try reason(bearer(claims(iatOffset: -100, ttl: 50, jti: "gone"))).1, "token_revoked")
    }

    // MARK: 2. Topic ACL

    func testTopicScopeMatrixRequiresTheTopicsScope() throws {
        try serve()
        try run("r1")
        let workerOnly = try bearer(claims(scopes: ["runtime.worker_lifecycle_events"]))
        var r = try poll("run:r1:events", headers: workerOnly)
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(try envelope(r).code, "forbidden_topic")
        XCTAssertEqual(try envelope(r).reasonCode, "missing_scope")
        r = try poll("runtime.codex_worker_events", headers: bearer(claims(scopes: ["runtime.run_events"])))
        XCTAssertEqual(try envelope(r).reasonCode, "missing_scope")
        XCTAssertEqual(try poll("runtime.codex_worker_events", headers: bearer(claims(scopes: ["runtime.codex_worker_events"]))).status, 200)
        r = try poll("somewhere:else", headers: bearer(claims()))
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(try envelope(r).code, "forbidden_topic")
    }

    func testWorkerTopicEnforcesOwnerScope() throws {
        try serve()
        let reg = try post("/internal/v1/workers", #"{"worker_id":"w1","owner_user_id":"u1"}"#)
        XCTAssertEqual(reg.status, 201, reg.text)
        let r = try poll("worker:w1:lifecycle", headers: bearer(claims(user: "u2")))
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(try envelope(r).reasonCode, "owner_mismatch")
        XCTAssertEqual(try envelope(try poll("worker:nope:lifecycle", headers: bearer(claims()))).reasonCode, "owner_mismatch")
        let p = try page(poll("worker:w1:lifecycle", headers: bearer(claims(user: "u1"))))
        XCTAssertEqual(p.messages.first?.kind, "worker.running")
        XCTAssertEqual(JSONValue.stringField(p.messages.first?.payload, "worker_id"), "w1")
        XCTAssertEqual(JSONValue.stringField(p.messages.first?.payload, "owner_user_id"), "u1")
    }

    func testGuestWorkerTopicMatchesTheTokensOrgAsGuestScope() throws {
        try serve()
        XCTAssertEqual(try post("/internal/v1/workers", #"{"worker_id":"wg","owner_guest_scope":"guest-7"}"#).status, 201)
        XCTAssertEqual(try poll("worker:wg:lifecycle", headers: bearer(claims(user: "", org: "guest-7"))).status, 200)
        XCTAssertEqual(try envelope(try poll("worker:wg:lifecycle", headers: bearer(claims(user: "", org: "guest-8")))).reasonCode, "owner_mismatch")
    }

    func testFleetTopicEnforcesUserBinding() throws {
        try serve()
        let r = try poll("fleet:user:u2:workers", headers: bearer(claims(user: "u1")))
        XCTAssertEqual(r.status, 403)
        XCTAssertEqual(try envelope(r).code, "forbidden_topic")
        XCTAssertEqual(try poll("fleet:user:u1:workers", headers: bearer(claims(user: "u1"))).status, 200)
    }

    func testRunTopicOfAnotherUsersRunIsForbidden() throws {
        try serve()
        try run("r1", user: "u1")
        XCTAssertEqual(try envelope(try poll("run:r1:events", headers: bearer(claims(user: "u2")))).reasonCode, "owner_mismatch")
    }

    // MARK: 3. Limits and fairness

    func testLimitIsClampedToThePollMaximum() throws {
        try serve()
        try run("r1")
        let p = try page(poll("run:r1:events", "limit=1000", headers: bearer(claims())))
        XCTAssertEqual(p.limitApplied, 200)
        XCTAssertTrue(p.limitCapped)
        XCTAssertEqual(try poll("run:r1:events", "limit=abc", headers: bearer(claims())).status, 400)
    }

    func testFairSliceAppliesWhenThePrincipalTracksSeveralTopics() throws {
        try serve()
        try run("r1", events: 60)
        try run("r2")
        let auth = try bearer(claims())
        XCTAssertFalse(try page(poll("run:r2:events", headers: auth)).fairnessApplied)
        let p = try page(poll("run:r1:events", "limit=100", headers: auth))
        XCTAssertTrue(p.fairnessApplied)
        XCTAssertEqual(p.limitApplied, 50)
        XCTAssertEqual(p.activeTopicCount, 2)
        XCTAssertEqual(p.messages.count, 50)
        XCTAssertFalse(p.replayComplete)
        XCTAssertEqual(p.nextCursor, 50)
    }

    // MARK: 4. Poll interval guard

    func testFastPollersAreRateLimitedByThePollIntervalGuard() throws {
        try serve()
        try run("r1")
        let auth = try bearer(claims())
        XCTAssertEqual(try poll("run:r1:events", headers: auth).status, 200)
        let r = try poll("run:r1:events", headers: auth)
        XCTAssertEqual(r.status, 429)
        let e = try envelope(r)
        XCTAssertEqual(e.code, "rate_limited")
        XCTAssertEqual(e.reasonCode, "poll_interval_guard")
        XCTAssertTrue((1...250).contains(e.retryAfterMs ?? 0), "\(e.retryAfterMs ?? 0)")
        XCTAssertEqual(r.headers["cache-control"], "no-store")
        usleep(UInt32(e.retryAfterMs ?? 250) * 1000 + 20_000)
        XCTAssertEqual(try poll("run:r1:events", headers: auth).status, 200)
    }

    // MARK: 5. Slow consumers

    func testSlowConsumersAreEvictedDeterministicallyAfterMaxStrikes() throws {
        try serve(configure: { $0.khala.slowConsumerLagThreshold = 3; $0.khala.pollMinIntervalMs = 0 })
        try run("r1", events: 9)
        let auth = try bearer(claims())
        XCTAssertEqual(try page(poll("run:r1:events", "after_seq=0&limit=1", headers: auth)).slowConsumerStrikes, 1)
        XCTAssertEqual(try page(poll("run:r1:events", "after_seq=1&limit=1", headers: auth)).slowConsumerStrikes, 2)
        let r = try poll("run:r1:events", "after_seq=2&limit=1", headers: auth)
        XCTAssertEqual(r.status, 409)
        let e = try envelope(r)
        XCTAssertEqual(e.code, "slow_consumer_evicted")
        let d = try XCTUnwrap(e.slowConsumer)
        XCTAssertEqual(d.topic, "run:r1:events")
        XCTAssertEqual(d.lag, 8)
        XCTAssertEqual(d.lagThreshold, 3)
        XCTAssertEqual(d.strikes, 3)
        XCTAssertEqual(d.maxStrikes, 3)
        XCTAssertEqual(d.suggestedAfterSeq, 0)
        XCTAssertEqual(d.recovery, "advance_cursor_or_rebootstrap")
        // Catching up clears the strikes.
        XCTAssertEqual(try page(poll("run:r1:events", "after_seq=9", headers: auth)).slowConsumerStrikes, 0)
    }

    // MARK: 6. Stale cursors

    func testStaleCursorWhenTheRetentionFloorIsMissed() throws {
        try serve(configure: { $0.streamRetentionEvents = 3 })
        try run("r1", events: 5)  // head 6, floor 3
        let r = try poll("run:r1:events", "after_seq=1", headers: bearer(claims()))
        XCTAssertEqual(r.status, 410)
        let e = try envelope(r)
        XCTAssertEqual(e.code, "stale_cursor")
        XCTAssertEqual(e.message, "cursor cannot be resumed from retained stream window")
        let d = try XCTUnwrap(e.staleCursor)
        XCTAssertEqual(d.topic, "run:r1:events")
        XCTAssertEqual(d.requestedCursor, 1)
        XCTAssertEqual(d.oldestAvailableCursor, 3)
        XCTAssertEqual(d.headCursor, 6)
        XCTAssertEqual(d.reasonCodes, ["retention_floor_breach"])
        XCTAssertEqual(d.replayLag, 5)
        XCTAssertEqual(d.replayBudgetEvents, 20_000)
        XCTAssertEqual(d.qosTier, "warm")
        XCTAssertEqual(d.recovery, "reset_local_watermark_and_replay_bootstrap")
        XCTAssertEqual(r.headers["cache-control"], "no-store")
        usleep(260_000)
        XCTAssertEqual(try page(poll("run:r1:events", "after_seq=3", headers: bearer(claims()))).messages.map(\.sequence), [4, 5, 6])
    }

    func testStaleCursorWhenTheReplayBudgetIsExceeded() throws {
        try serve(configure: { $0.khala.classes[0].replayBudgetEvents = 2 })
        try run("r1", events: 4)  // head 5, nothing dropped
        let e = try envelope(try poll("run:r1:events", "after_seq=1", headers: bearer(claims())))
        XCTAssertEqual(e.code, "stale_cursor")
        XCTAssertEqual(e.staleCursor?.reasonCodes, ["replay_budget_exceeded"])
        XCTAssertEqual(e.staleCursor?.replayLag, 4)
        XCTAssertEqual(e.staleCursor?.replayBudgetEvents, 2)
    }

    func testTopicClassLimitsAreReadFromTheEnvironment() throws {
        let c = try KhalaConfig(environment: ["RUNTIME_KHALA_RUN_EVENTS_REPLAY_BUDGET_EVENTS": "7", "RUNTIME_KHALA_FALLBACK_MAX_PAYLOAD_BYTES": "99",
                                              "RUNTIME_KHALA_WORKER_LIFECYCLE_PUBLISH_RATE_PER_SECOND": "5"])
        XCTAssertEqual(c.topicClass(.runEvents).replayBudgetEvents, 7)
        XCTAssertEqual(c.topicClass(.fallback).maxPayloadBytes, 99)
        XCTAssertEqual(c.topicClass(.workerLifecycle).publishRatePerSecond, 5)
        XCTAssertEqual(c.topicClass(.codexWorkerEvents).qosTier, "hot")
        XCTAssertThrowsError(try KhalaConfig(environment: ["RUNTIME_KHALA_RUN_EVENTS_REPLAY_BUDGET_EVENTS": "lots"]))
    }

    // MARK: Introspection

    func testHealthzAndFanoutNameTheDriverAndCountPerClass() throws {
        try serve()
        try run("r1", events: 2)
        _ = try poll("run:r1:events", headers: bearer(claims()))
        let h = try RuntimeV1.HealthzResponse(jsonBytes: try get("/healthz").body)
        XCTAssertEqual(h.fanoutDriver, "embedded")
        let f = try SyncV1.KhalaFanoutResponse(jsonBytes: try get("/internal/v1/khala/fanout").body)
        XCTAssertEqual(f.driver, "embedded")
        let runs = try XCTUnwrap(f.classes.first { $0.topicClass == "run_events" })
        XCTAssertEqual(runs.polls, 1)
        XCTAssertEqual(runs.deliveredMessages, 3)
        XCTAssertEqual(runs.replayBudgetEvents, 20_000)
        XCTAssertTrue(try get("/metrics").text.contains("khala_polls_total{topic_class=\"run_events\"} 1"))
    }
}
