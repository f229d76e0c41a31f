import Foundation
import Generated
import Glibc
import PostgresClient
@testable import RuntimeCore
import TestSupport
import XCTest

/// The real `openagents serve` on PostgreSQL: two instances on one database
/// behave as one service, the database restarting under load costs fast 503s
/// and nothing acknowledged, and `kill -9` of an instance loses nothing.
final class PostgresInstancesTests: XCTestCase {
    static let secret = "pg-instances-secret"
    static func signed() -> [(String, String)] { [(RuntimeSignature.header, RuntimeSignature.sign(RuntimeSignature.claims(), secret: Array(secret.utf8)))] }

    static let syncKey = "pg-instances-sync-key"
    var processes: [Process] = []

    override func setUpWithError() throws {
        try XCTSkipUnless(ServeProcess.isBuilt, "openagents binary not built next to the tests")
    }
    override func tearDown() {
        for p in processes where p.isRunning { p.terminate(); p.waitUntilExit() }
        processes = []
    }

    func cluster() throws -> PostgresCluster.Running {
        do { return try PostgresCluster.shared() } catch { throw XCTSkip("\(error)") }
    }

    /// `serve --only runtime` on `url`, with a data directory of its own (instances share only the database and the secret).
    func serve(_ url: String) throws -> (Process, Int) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pgi-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let (p, port) = try ServeProcess.start(only: "runtime", dataDir: dir, environment: ["OA_RUNTIME_SIGNATURE_SECRET": Self.secret, "RUNTIME_DATABASE_URL": url,
                                                                                 "RUNTIME_SYNC_TOKEN_SIGNING_KEY": Self.syncKey])
        processes.append(p)
        return (p, port)
    }

    static func append(_ port: Int, _ run: String, key: String) -> Int? {
        RawClient.post(port: port, path: "/internal/v1/runs/\(run)/events", json: #"{"event_type":"tool","payload":{"tool":"t","k":"\#(key)"},"idempotency_key":"\#(key)"}"#,
                       headers: Self.signed())?.status
    }

    func stored(_ url: String, _ run: String) throws -> [RuntimeV1.RuntimeRunEvent] {
        let store = try PostgresStore(config: try PostgresConfig(url: url), writers: 1, poolSize: 1)
        defer { store.close() }
        return try XCTUnwrap(try store.run(run)).events
    }

    func testTwoInstancesOnOneDatabaseAreOneService() throws {
        _ = try cluster()
        let url = try PostgresCluster.freshDatabase(prefix: "two").url
        let (_, a) = try serve(url)
        let (_, b) = try serve(url)
        XCTAssertEqual(RawClient.post(port: a, path: "/internal/v1/runs", json: #"{"run_id":"r","thread_id":"t"}"#, headers: Self.signed())?.status, 201)
        // A stream on B, then appends through both: B streams A's events too.
        let stream = try RawClient(port: b, timeout: 10)
        let extra = Self.signed().map { "\($0.0): \($0.1)\r\n" }.joined()
        stream.send("GET /internal/v1/runs/r/stream?thread_id=t&cursor=1&tail_ms=3000 HTTP/1.1\r\nHost: t\r\n\(extra)\r\n")
        for i in 0..<10 { XCTAssertEqual(Self.append(i % 2 == 0 ? a : b, "r", key: "k\(i)"), 200) }
        let text = try XCTUnwrap(stream.readStream(until: "id: 11\n"), "B streamed every event, A's included")
        let ids = text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.compactMap { UInt64($0.dropFirst(4)) }
        XCTAssertEqual(ids, Array(2...11))
        // Both answer the same run; a key replayed on the other instance is a replay.
        let onB = try XCTUnwrap(RawClient.get(port: b, path: "/internal/v1/runs/r", headers: Self.signed()))
        XCTAssertTrue(onB.text.contains("\"latestSeq\":11"), onB.text)
        let replay = RawClient.post(port: b, path: "/internal/v1/runs/r/events", json: #"{"event_type":"tool","payload":{"tool":"t","k":"k0"},"idempotency_key":"k0"}"#, headers: Self.signed())
        XCTAssertTrue(replay?.text.contains("\"idempotentReplay\":true") ?? false, replay?.text ?? "")
        // A signature token used on A is refused on B: the nonces are shared.
        let token = Self.signed()
        XCTAssertEqual(RawClient.get(port: a, path: "/internal/v1/runs/r", headers: token)?.status, 200)
        let replayed = RawClient.get(port: b, path: "/internal/v1/runs/r", headers: token)
        XCTAssertEqual(replayed?.status, 401)
        XCTAssertTrue(replayed?.text.contains("nonce already used") ?? false, replayed?.text ?? "")
        // One projector folds for both: the same run summary from either instance.
        func summary(_ port: Int) -> RuntimeV1.ProjectionSummary? {
            RawClient.get(port: port, path: "/internal/v1/projectors/run-summary/r", headers: Self.signed()).flatMap { try? RuntimeV1.RunSummaryResponse(jsonBytes: $0.body).summary }
        }
        let deadline = Date().addingTimeInterval(10)
        while (summary(a)?.lastSeq != 11 || summary(b)?.lastSeq != 11) && Date() < deadline { usleep(20_000) }
        XCTAssertEqual(summary(a)?.eventCount, 11)
        XCTAssertEqual(summary(a), summary(b))
        // /readyz names the backend and the database's state.
        let ready = try XCTUnwrap(RawClient.get(port: b, path: "/readyz"))
        let r = try RuntimeV1.ReadyzResponse(jsonBytes: ready.body)
        XCTAssertEqual(r.storageBackend, "postgres")
        XCTAssertTrue(r.databaseReady)
        XCTAssertEqual(r.fanoutDriver, "postgres_notify")
        XCTAssertTrue(r.projectorReady)
        XCTAssertEqual(try stored(url, "r").map(\.seq), Array(1...11))
    }

    /// Khala's poll interval guard is shared: a consumer that polls A and then
    /// B at once is held to the interval as if it had polled one instance twice.
    func testThePollIntervalGuardHoldsAcrossInstances() throws {
        _ = try cluster()
        let url = try PostgresCluster.freshDatabase(prefix: "poll").url
        let (_, a) = try serve(url)
        let (_, b) = try serve(url)
        XCTAssertEqual(RawClient.post(port: a, path: "/internal/v1/runs", json: #"{"run_id":"p","thread_id":"t"}"#,
                                      headers: Self.signed() + [("x-oa-user-id", "u1")])?.status, 201)
        let key = try SyncAuthorizer.loadKey(environment: ["RUNTIME_SYNC_TOKEN_SIGNING_KEY": Self.syncKey], dataDirectory: NSTemporaryDirectory())
        let now = Int64(Date().timeIntervalSince1970)
        let claims: [String: Any] = ["iss": "https://openagents.com", "aud": "openagents-sync", "sub": "user:u1", "iat": now, "nbf": now, "exp": now + 300,
                                     "oa_user_id": "u1", "oa_sync_scopes": ["runtime.run_events"], "jti": UUID().uuidString]
        let token = JWT.sign(claims: [UInt8](try JSONSerialization.data(withJSONObject: claims)), key: key)
        let auth = [("authorization", "Bearer " + token)]
        XCTAssertEqual(RawClient.get(port: a, path: "/internal/v1/khala/topics/run:p:events/messages", headers: auth)?.status, 200)
        let second = try XCTUnwrap(RawClient.get(port: b, path: "/internal/v1/khala/topics/run:p:events/messages", headers: auth))
        XCTAssertEqual(second.status, 429, second.text)
        XCTAssertTrue(second.text.contains("poll_interval_guard"), second.text)
        usleep(300_000)
        XCTAssertEqual(RawClient.get(port: b, path: "/internal/v1/khala/topics/run:p:events/messages", headers: auth)?.status, 200, "once the interval has passed")
    }

    /// Writers append with unique keys while the database stops and starts:
    /// during the outage answers are quick 503s, never hangs; afterwards the
    /// instance writes again by itself; every acknowledged append is stored once.
    func testTheDatabaseRestartingUnderLoadFailsFastAndLosesNothing() throws {
        let own: PostgresCluster.Running
        do { own = try PostgresCluster.dedicated() } catch { throw XCTSkip("\(error)") }
        let url = try PostgresCluster.freshDatabase(prefix: "fault", on: own).url
        let (_, port) = try serve(url)
        XCTAssertEqual(RawClient.post(port: port, path: "/internal/v1/runs", json: #"{"run_id":"f","thread_id":"t"}"#, headers: Self.signed())?.status, 201)
        let lock = NSLock()
        nonisolated(unsafe) var acknowledged: Set<String> = []
        nonisolated(unsafe) var outageAnswers: [(status: Int, seconds: Double)] = []
        nonisolated(unsafe) var down = false
        nonisolated(unsafe) var stop = false
        let group = DispatchGroup()
        for w in 0..<4 {
            DispatchQueue.global().async(group: group) {
                var i = 0
                while true {
                    lock.lock(); let done = stop; lock.unlock()
                    if done { return }
                    let key = "w\(w)-\(i)"
                    i += 1
                    let t0 = Date()
                    let status = Self.append(port, "f", key: key) ?? 0
                    let took = Date().timeIntervalSince(t0)
                    lock.lock()
                    if status == 200 { acknowledged.insert(key) }
                    if down { outageAnswers.append((status, took)) }
                    lock.unlock()
                }
            }
        }
        func count() -> Int { lock.lock(); defer { lock.unlock() }; return acknowledged.count }
        for _ in 0..<400 where count() < 100 { usleep(5_000) }
        lock.lock(); down = true; lock.unlock()
        try PostgresCluster.stopServer(own)
        Thread.sleep(forTimeInterval: 1.5)
        let readyDuring = RawClient.get(port: port, path: "/readyz")
        lock.lock(); down = false; lock.unlock()
        try PostgresCluster.startServer(own)
        let before = count()
        // Reconnects by itself: appends are acknowledged again within a few seconds.
        let deadline = Date().addingTimeInterval(15)
        while count() < before + 100, Date() < deadline { usleep(10_000) }
        lock.lock(); stop = true; lock.unlock()
        group.wait()
        XCTAssertGreaterThanOrEqual(count(), before + 100, "writes resumed after the database came back")
        XCTAssertEqual(readyDuring?.status, 503)
        let failed = outageAnswers.filter { $0.status != 200 }
        XCTAssertFalse(failed.isEmpty, "requests were made during the outage")
        XCTAssertEqual(Set(failed.map(\.status)), [503], "an outage is 503, nothing else")
        XCTAssertLessThan(failed.map(\.seconds).max() ?? 0, 2, "and answered fast, not after a hang")
        let events = try stored(url, "f")
        let keys = events.map(\.idempotencyKey).filter { !$0.isEmpty }
        XCTAssertEqual(Set(keys).count, keys.count, "nothing stored twice")
        XCTAssertTrue(acknowledged.isSubset(of: Set(keys)), "lost: \(acknowledged.subtracting(keys).sorted().prefix(5))")
        XCTAssertEqual(events.map(\.seq), Array(1...UInt64(events.count)))
        print("# database restart: \(acknowledged.count) acknowledged, \(failed.count) answered 503 during the outage, slowest \(String(format: "%.3f", failed.map(\.seconds).max() ?? 0)) s")
    }

    func testKillDashNineOfAnInstanceLosesNothingAcknowledged() throws {
        _ = try cluster()
        let url = try PostgresCluster.freshDatabase(prefix: "kill").url
        let (a, pa) = try serve(url)
        let (_, pb) = try serve(url)
        XCTAssertEqual(RawClient.post(port: pa, path: "/internal/v1/runs", json: #"{"run_id":"k","thread_id":"t"}"#, headers: Self.signed())?.status, 201)
        let lock = NSLock()
        nonisolated(unsafe) var acknowledged: Set<String> = []
        let group = DispatchGroup()
        for w in 0..<4 {
            DispatchQueue.global().async(group: group) {
                for i in 0..<400 {
                    let key = "w\(w)-\(i)"
                    // Half the writers on each instance; those on A see it die.
                    guard let status = Self.append(w % 2 == 0 ? pa : pb, "k", key: key) else { if w % 2 == 0 { return } else { continue } }
                    if status == 200 { lock.lock(); acknowledged.insert(key); lock.unlock() }
                }
            }
        }
        for _ in 0..<400 {
            lock.lock(); let n = acknowledged.count; lock.unlock()
            if n >= 150 { break }
            usleep(5_000)
        }
        kill(a.processIdentifier, SIGKILL)
        a.waitUntilExit()
        group.wait()
        let events = try stored(url, "k")
        let keys = events.map(\.idempotencyKey).filter { !$0.isEmpty }
        XCTAssertEqual(Set(keys).count, keys.count, "nothing stored twice")
        XCTAssertTrue(acknowledged.isSubset(of: Set(keys)), "lost: \(acknowledged.subtracting(keys).sorted().prefix(5))")
        XCTAssertEqual(events.map(\.seq), Array(1...UInt64(events.count)))
        let onB = try XCTUnwrap(RawClient.get(port: pb, path: "/internal/v1/runs/k", headers: Self.signed()))
        XCTAssertTrue(onB.text.contains("\"latestSeq\":\(events.count)"), "the survivor serves the whole run")
        print("# kill -9 of an instance: \(acknowledged.count) acknowledged, \(events.count - 1) stored")
    }
}
