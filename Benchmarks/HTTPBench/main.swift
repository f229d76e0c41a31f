// HTTPBench: the anchor's HTTP workload (../shared/bench, hb-anchor) served by
// our HTTP core and codecs, so `make bench-http` compares the two with the
// same wrk scripts: GET /healthz, POST .../events (decode a RunEvent, store it
// in memory, answer {"runId","seq"}), GET .../events?after=N (a 100-event page).

import ServiceKit
import Foundation
import BenchContracts
import Generated
import HTTPServer
import ProtoWire
import Synchronization

typealias RunEvent = BenchV1.RunEvent

final class EventStore: Sendable {
    private let runs = Mutex<[String: [RunEvent]]>([:])

    func append(runID: String, event: consuming RunEvent) -> UInt64 {
        var event = event
        event.runId = runID
        return runs.withLock { runs in
            let seq = UInt64(runs[runID, default: []].count + 1)
            event.seq = seq
            runs[runID, default: []].append(event)
            return seq
        }
    }

    func read(runID: String, after: UInt64, limit: Int) -> [RunEvent] {
        runs.withLock { runs in
            guard let list = runs[runID], after < UInt64(list.count) else { return [] }
            let start = Int(after)
            return Array(list[start..<min(start + limit, list.count)])
        }
    }
}

let store = EventStore()
var router = Router()
router.getSync("/healthz") { _ in
    var w = JSONWriter(capacity: 64)
    w.beginObject()
    w.key("status"); w.writeString("ok")
    w.key("service"); w.writeString("openagents")
    w.endObject()
    return .json(200, (try? w.finish()) ?? [])
}
router.postSync("/internal/v1/runs/:run_id/events") { req in
    let event: RunEvent
    do { event = try RunEvent(jsonBytes: req.body) } catch { throw ServiceError.invalidRequest("\(error)") }
    let runID = req.params["run_id"] ?? ""
    let seq = store.append(runID: runID, event: event)
    var w = JSONWriter(capacity: 64)
    w.beginObject()
    w.key("runId"); w.writeString(runID)
    w.key("seq"); w.writeUInt32(UInt32(truncatingIfNeeded: seq))
    w.endObject()
    return .json(201, (try? w.finish()) ?? [])
}
router.getSync("/internal/v1/runs/:run_id/events") { req in
    let afterText = req.queryItems["after"] ?? "0"
    guard let after = UInt64(afterText) else { throw ServiceError.invalidRequest("after must be a non-negative integer") }
    var page = BenchV1.RunEventBatch()
    page.events = store.read(runID: req.params["run_id"] ?? "", after: after, limit: 100)
    var w = JSONWriter(capacity: 128 * 1024)
    if page.events.isEmpty { w.beginObject(); w.key("events"); w.beginArray(); w.endArray(); w.endObject() } else { page.encodeJSON(to: &w) }
    return .json(200, (try? w.finish()) ?? [])
}

var config = ServerConfig()
config.port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "8090") ?? 8090
config.limits.maxBodyBytes = 2 << 20  // the anchor's collect limit
config.name = "httpbench"
let server = HTTPServer(config: config, router: router, logger: Logger(level: .warn))
do { try server.start() } catch { FileHandle.standardError.write(Data("HTTPBench: \(error)\n".utf8)); exit(1) }
print("HTTPBench listening on 127.0.0.1:\(server.port)")
dispatchMain()
