// PGBench (make bench-postgres, part a): our PostgreSQL client doing what
// `pgbench -M prepared -f insert.sql` does: CONNECTIONS connections (one
// thread each), each running the same prepared single-row INSERT with two
// parameters over and over for SECONDS, one statement per round trip.
// Prints transactions per second over all connections.

import Foundation
import PostgresClient
import Synchronization

let env = ProcessInfo.processInfo.environment
let connections = Int(env["CONNECTIONS"] ?? "8") ?? 8
let seconds = Double(env["SECONDS"] ?? "10") ?? 10
let table = env["TABLE"] ?? "bench_insert"

let config: PostgresConfig = {
    do {
        var c = try env["DATABASE_URL"].map { try PostgresConfig(url: $0) } ?? PostgresConfig(environment: env)
        c.queryTimeout = 30
        return c
    } catch { fatalError("\(error)") }
}()

let total = Atomic<Int>(0)
let ready = DispatchSemaphore(value: 0)
let go = DispatchSemaphore(value: 0)
let done = DispatchSemaphore(value: 0)
let deadline = Mutex<Double>(0)

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

for w in 0..<connections {
    let t = Thread {
        let c: PostgresConnection
        do { c = try PostgresConnection.connect(config) } catch { fatalError("connect: \(error)") }
        let sql = "INSERT INTO \(table) (worker, n) VALUES ($1, $2)"
        _ = try? c.query(sql, [String(w), "0"])
        ready.signal()
        go.wait()
        let end = deadline.withLock { $0 }
        var n = 0
        while now() < end {
            do { _ = try c.query(sql, [String(w), String(n)]) } catch { fatalError("insert: \(error)") }
            n += 1
        }
        total.add(n, ordering: .relaxed)
        c.close()
        done.signal()
    }
    t.start()
}
for _ in 0..<connections { ready.wait() }
let start = now()
deadline.withLock { $0 = start + seconds }
for _ in 0..<connections { go.signal() }
for _ in 0..<connections { done.wait() }
let elapsed = now() - start
print(String(format: "ours c%d %.0f tps (%d inserts in %.1f s)", connections, Double(total.load(ordering: .relaxed)) / elapsed, total.load(ordering: .relaxed), elapsed))
