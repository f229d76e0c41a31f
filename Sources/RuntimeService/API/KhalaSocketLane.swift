import APIRuntime
import Generated
import ProtoWire
import RuntimeCore
import ServiceKit

/// `GET /internal/v1/khala/topics/{topic}/ws`: `hello`, then every message
/// after the cursor (each write awaited, so a backlog cannot outrun the
/// reader), then the hub pushes new ones as they commit. A stale cursor is
/// answered with a `stale_cursor` frame and the socket is closed.
enum KhalaSocketLane {
    static let frameOptions = JSONEncodingOptions(int64AsNumbers: true, deterministic: true)

    /// The cursor and page size of an upgrade (400 naming a bad one, before any upgrade).
    static func start(_ r: SyncV1.KhalaFollowRequest, config: KhalaConfig) throws -> (after: UInt64, limit: UInt64) {
        let after: UInt64?, limit: UInt64?
        switch Result(catching: { () throws(KhalaError) in try Khala.cursor(r.afterSeq, "after_seq") }) {
        case .success(let v): after = v
        case .failure(let e): throw ServiceError(e)
        }
        switch Result(catching: { () throws(KhalaError) in try Khala.cursor(r.limit, "limit") }) {
        case .success(let v): limit = v
        case .failure(let e): throw ServiceError(e)
        }
        return (after ?? 0, max(1, min(limit ?? UInt64(config.pollDefaultLimit), UInt64(config.pollMaxLimit))))
    }

    static func encode(_ f: SyncV1.KhalaSocketFrame) -> [UInt8] { (try? f.jsonBytes(options: frameOptions)) ?? Array("{}".utf8) }

    static func run(khala: Khala, topic name: String, principal: SyncPrincipal, after: UInt64, limit: UInt64, sink: any StreamSink) async {
        let topic = KhalaTopic(name)
        var hello = SyncV1.KhalaSocketFrame()
        hello.type = "hello"
        hello.topic = name
        hello.afterSeq = after
        hello.limit = UInt32(limit)
        hello.recommendedReconnectBackoffMs = khala.reconnectBackoff(consumer: principal.consumerKey, cursor: after)
        guard await sink.send(framed: encode(hello)) else { return }
        if let stale = khala.staleCursor(topic, after: after, window: khala.driver.window(topic)) {
            var f = SyncV1.KhalaSocketFrame()
            f.type = "stale_cursor"
            f.topic = name
            f.requestedCursor = stale.requestedCursor
            f.oldestAvailableCursor = stale.oldestAvailableCursor
            f.headCursor = stale.headCursor
            f.reasonCodes = stale.reasonCodes
            f.replayLag = stale.replayLag
            f.replayBudgetEvents = stale.replayBudgetEvents
            f.qosTier = stale.qosTier
            _ = await sink.send(framed: encode(f))
            return
        }
        var sent = after
        while true {
            let page: [SyncV1.FanoutMessage]
            do { page = try khala.driver.poll(topic, after: sent, limit: Int(limit)) } catch {
                var f = SyncV1.KhalaSocketFrame()
                f.type = "error"
                f.topic = name
                f.code = "fanout_error"
                f.message = JSONValue.string(error.message)
                _ = await sink.send(framed: encode(f))
                return
            }
            guard let last = page.last else { break }
            var ok = true
            for m in page where ok { ok = await sink.send(framed: KhalaHub.messageFrame(m)) }
            guard ok else { return }
            sent = last.sequence
            if page.count < Int(limit) { break }
        }
        await khala.hub.follow(topic, sink: sink, sent: sent)
    }
}
