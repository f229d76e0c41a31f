import APIRuntime
import Foundation
import Generated
import HTTPServer
import RuntimeCore
import Synchronization

/// What control owes the runtime after its own records are durable: each
/// codex worker event goes to the Khala topic `runtime.codex_worker_events`,
/// each session revocation to `/internal/v1/sync/revocations` (so the sync
/// tokens it covers stop working at once), in commit order. Each is published with the key `codexw:<worker>:<seq>`, so a
/// retry (runtime down, restart of either side) is answered as a replay and
/// the topic holds every event once. At start-up the newest events (one
/// window of the topic class) are offered again for the same reason.
/// Publishing faster than the class's rate waits for `retry_after_ms`; the
/// queue is bounded by the topic's window and drops its oldest beyond that.
final class RuntimeOutbox: Sendable {
    enum Item: Sendable, Equatable {
        case codexEvent(ControlV1.CodexWorkerEventRecord)
        case revocation(ControlV1.SessionRevoked)
    }
    static let topic = "runtime.codex_worker_events"
    let client: RuntimeV1.RuntimeServiceClient
    let secret: [UInt8]?
    let logger: Logger
    let limit: Int
    private let queue = Mutex<[Item]>([])
    private let dropped = Atomic<Int>(0)
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    init(store: RecordLog<ControlState>, client: RuntimeV1.RuntimeServiceClient, secret: [UInt8]?, logger: Logger, window: Int = 3000) {
        self.client = client
        self.secret = secret
        self.logger = logger
        limit = window
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        // Revocations young enough to still matter (a sync token lives at most 15 minutes), then the newest events.
        let horizon = Int64(Date().timeIntervalSince1970) - 1800
        let recent: [Item] = store.read { s in
            s.revocations.values.filter { ($0.revokedAt?.seconds ?? 0) >= horizon }.map { Item.revocation($0) }
                + s.codexEvents.values.flatMap { $0 }.sorted { ($0.occurredAt, $0.workerId, $0.seq) < ($1.occurredAt, $1.workerId, $1.seq) }.suffix(window).map { Item.codexEvent($0) }
        }
        enqueue(recent)
        store.subscribe { [self] records in
            enqueue(records.compactMap {
                switch $0.entry {
                case .codexWorkerEvent(let e)?: return .codexEvent(e)
                case .sessionRevoked(let r)?: return .revocation(r)
                default: return nil
                }
            })
        }
        Task.detached { [self] in await run() }
    }

    private func enqueue(_ events: [Item]) {
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
                    switch next {
                    case .codexEvent(let e): _ = try await client.publishKhalaMessage(Self.request(e), headers: headers)
                    case .revocation(let r):
                        var v = SyncV1.SyncRevocation()
                        v.key = r.key
                        v.revokedAtUnix = r.revokedAt?.seconds ?? Int64(Date().timeIntervalSince1970)
                        var req = SyncV1.SyncRevocationRequest()
                        req.revocations = [v]
                        _ = try await client.recordSyncRevocations(req, headers: headers)
                    }
                } catch let e as APIClientError where e.status == 429 {
                    let retry = (try? RuntimeV1.ErrorEnvelope(jsonBytes: e.body, options: .init(ignoreUnknownFields: true)))?.error?.retryAfterMs ?? 250
                    try? await Task.sleep(nanoseconds: UInt64(max(50, retry)) * 1_000_000)
                    continue
                } catch let e as APIClientError where (400..<500).contains(e.status) {
                    logger.log(.warn, "runtime refused an outbox item", ["item": "\(next)".prefix(200).description, "status": "\(e.status)", "error": e.message])
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
