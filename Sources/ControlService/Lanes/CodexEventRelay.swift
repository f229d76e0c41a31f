import APIRuntime
import Foundation
import Generated
import HTTPServer
import RuntimeCore
import Synchronization

/// Carries the control service's codex worker events to the runtime's Khala
/// topic `runtime.codex_worker_events`, in commit order, after each is
/// durable here. Each is published with the key `codexw:<worker>:<seq>`, so a
/// retry (runtime down, restart of either side) is answered as a replay and
/// the topic holds every event once. At start-up the newest events (one
/// window of the topic class) are offered again for the same reason.
/// Publishing faster than the class's rate waits for `retry_after_ms`; the
/// queue is bounded by the topic's window and drops its oldest beyond that.
final class CodexEventRelay: Sendable {
    static let topic = "runtime.codex_worker_events"
    let client: RuntimeV1.RuntimeServiceClient
    let secret: [UInt8]?
    let logger: Logger
    let limit: Int
    private let queue = Mutex<[ControlV1.CodexWorkerEventRecord]>([])
    private let dropped = Atomic<Int>(0)
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    init(store: RecordLog<ControlState>, client: RuntimeV1.RuntimeServiceClient, secret: [UInt8]?, logger: Logger, window: Int = 3000) {
        self.client = client
        self.secret = secret
        self.logger = logger
        limit = window
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let recent: [ControlV1.CodexWorkerEventRecord] = store.read { s in
            s.codexEvents.values.flatMap { $0 }.sorted { ($0.occurredAt, $0.workerId, $0.seq) < ($1.occurredAt, $1.workerId, $1.seq) }.suffix(window).map { $0 }
        }
        enqueue(recent)
        store.subscribe { [self] records in
            enqueue(records.compactMap { if case .codexWorkerEvent(let e)? = $0.entry { return e } else { return nil } })
        }
        Task.detached { [self] in await run() }
    }

    private func enqueue(_ events: [ControlV1.CodexWorkerEventRecord]) {
        guard !events.isEmpty else { return }
        queue.withLock { q in
            q += events
            if q.count > limit {
                dropped.add(q.count - limit, ordering: .relaxed)
                q.removeFirst(q.count - limit)
            }
        }
        wake.yield()
    }

    static func request(_ e: ControlV1.CodexWorkerEventRecord) -> SyncV1.KhalaPublishRequest {
        var r = SyncV1.KhalaPublishRequest()
        r.topic = topic
        r.kind = e.eventType
        r.idempotencyKey = "codexw:\(e.workerId):\(e.seq)"
        var payload = GoogleProtobuf.Struct()
        payload.fields = ["worker_id": JSONValue.string(e.workerId), "seq": JSONValue.number(e.seq), "event_type": JSONValue.string(e.eventType),
                          "payload": JSONValue.value(.structValue(e.payload ?? GoogleProtobuf.Struct())), "occurred_at": JSONValue.string(e.occurredAt)]
        r.payload = JSONValue.value(.structValue(payload))
        return r
    }

    private func run() async {
        for await _ in wakes {
            while let next = queue.withLock({ $0.first }) {
                var headers: [(String, String)] = []
                if let secret { headers.append((RuntimeSignature.header, RuntimeSignature.sign(RuntimeSignature.claims(ttl: 60), secret: secret))) }
                do {
                    _ = try await client.publishKhalaMessage(Self.request(next), headers: headers)
                } catch let e as APIClientError where e.status == 429 {
                    let retry = (try? RuntimeV1.ErrorEnvelope(jsonBytes: e.body, options: .init(ignoreUnknownFields: true)))?.error?.retryAfterMs ?? 250
                    try? await Task.sleep(nanoseconds: UInt64(max(50, retry)) * 1_000_000)
                    continue
                } catch let e as APIClientError where (400..<500).contains(e.status) {
                    logger.log(.warn, "codex event not published to khala", ["worker_id": next.workerId, "seq": "\(next.seq)", "status": "\(e.status)", "error": e.message])
                } catch {
                    // Runtime unreachable or failing: keep the event and try again shortly.
                    try? await Task.sleep(nanoseconds: 1_000_000_000)
                    continue
                }
                queue.withLock { q in if q.first == next { q.removeFirst() } }
            }
        }
    }
}
