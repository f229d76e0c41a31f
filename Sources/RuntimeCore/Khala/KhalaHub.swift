import APIRuntime
import Dispatch
import Foundation
import Generated
import ProtoWire
import Synchronization

/// Pushes committed topic messages to the WebSocket readers that have caught
/// up, from one thread, as `RunStreamHub` does for SSE: the store's writer
/// only marks which followed topics a batch touched and signals; the hub
/// reads each such topic's new messages once, encodes each frame once, and
/// posts it to every reader of the topic. No polling: a commit wakes it.
public final class KhalaHub: Sendable {
    final class Live: @unchecked Sendable {
        let topic: KhalaTopic
        let sink: any StreamSink
        var sent: UInt64
        var lastWrite: UInt64
        let done: CheckedContinuation<Void, Never>
        init(topic: KhalaTopic, sink: any StreamSink, sent: UInt64, done: CheckedContinuation<Void, Never>) {
            self.topic = topic
            self.sink = sink
            self.sent = sent
            self.done = done
            lastWrite = DispatchTime.now().uptimeNanoseconds
        }
    }

    private let live = Mutex<[KhalaTopic: [ObjectIdentifier: Live]]>([:])
    private let dirty = Mutex<Set<KhalaTopic>>([])
    private let wake = DispatchSemaphore(value: 0)
    private let count = Atomic<Int>(0)
    let driver: any FanoutDriver
    let counters: KhalaCounters
    let keepAliveNs: UInt64

    init(driver: any FanoutDriver, counters: KhalaCounters, config: KhalaConfig, keepAliveMs: UInt64 = 15_000) {
        self.driver = driver
        self.counters = counters
        keepAliveNs = keepAliveMs * 1_000_000
        let t = Thread { [self] in self.run() }
        t.name = "khala-fanout"
        t.start()
    }

    public var subscriberCount: Int { count.load(ordering: .relaxed) }

    func followedTopics() -> [String: Int] {
        live.withLock { l in Dictionary(uniqueKeysWithValues: l.map { ($0.key.name, $0.value.count) }) }
    }

    /// The store's subscriber: marks the followed topics a committed batch touched.
    func publish(_ records: [RuntimeV1.RuntimeLogRecord]) {
        var touched: [KhalaTopic] = []
        for r in records {
            switch r.entry {
            case .runEvent(let e)?: touched.append(.run(e.runId))
            case .workerEvent(let e)?: touched.append(.worker(e.workerId))
            default: break
            }
        }
        guard !touched.isEmpty else { return }
        let followed = live.withLock { l in touched.filter { l[$0] != nil } }
        guard !followed.isEmpty else { return }
        dirty.withLock { $0.formUnion(followed) }
        wake.signal()
    }

    /// Khala's own topics that a commit touched.
    func publish(topics touched: [KhalaTopic]) {
        let followed = live.withLock { l in touched.filter { l[$0] != nil } }
        guard !followed.isEmpty else { return }
        dirty.withLock { $0.formUnion(followed) }
        wake.signal()
    }

    /// Hands a caught-up reader to the hub; returns once it is gone.
    public func follow(_ topic: KhalaTopic, sink: any StreamSink, sent: UInt64) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let reader = Live(topic: topic, sink: sink, sent: sent, done: done)
            live.withLock { $0[topic, default: [:]][ObjectIdentifier(reader)] = reader }
            count.add(1, ordering: .relaxed)
            dirty.withLock { _ = $0.insert(topic) }
            wake.signal()
        }
    }

    /// A `message` frame's text: `{"type":"message","topic":…,"message":<FanoutMessage>}`.
    public static func messageFrame(_ m: SyncV1.FanoutMessage) -> [UInt8] {
        let json = (try? m.jsonBytes(options: JSONEncodingOptions(int64AsNumbers: true, deterministic: true))) ?? Array("{}".utf8)
        return Array(#"{"type":"message","topic":"#.utf8) + Array(JWT.quote(m.topic).utf8) + Array(#","message":"#.utf8) + json + [UInt8(ascii: "}")]
    }

    private func run() {
        var lastSweep = DispatchTime.now().uptimeNanoseconds
        while true {
            _ = wake.wait(timeout: .now() + .milliseconds(250))
            let topics = dirty.withLock { d -> Set<KhalaTopic> in let t = d; d.removeAll(keepingCapacity: true); return t }
            for t in topics { deliver(t) }
            let now = DispatchTime.now().uptimeNanoseconds
            if now - lastSweep >= 250_000_000 {
                sweep(now)
                lastSweep = now
            }
        }
    }

    private func deliver(_ topic: KhalaTopic) {
        let readers = live.withLock { Array(($0[topic] ?? [:]).values) }
        guard var floor = readers.map(\.sent).min() else { return }
        while true {
            let messages: [SyncV1.FanoutMessage]
            do { messages = try driver.poll(topic, after: floor, limit: 256) } catch {
                for r in readers { end(r) }
                return
            }
            guard let last = messages.last else { return }
            let frames = messages.map { ($0.sequence, Self.messageFrame($0)) }
            var delivered: UInt64 = 0
            for r in readers where r.sent < last.sequence {
                for (seq, f) in frames where seq > r.sent {
                    guard r.sink.post(framed: f) else { end(r); break }
                    r.sent = seq
                    delivered += 1
                }
                r.lastWrite = DispatchTime.now().uptimeNanoseconds
            }
            counters.add(topic.className, \.delivered, delivered)
            floor = last.sequence
            if messages.count < 256 { return }
        }
    }

    private func sweep(_ now: UInt64) {
        let all = live.withLock { $0.values.flatMap { $0.values } }
        for r in all {
            if !r.sink.isOpen { end(r); continue }
            if now > r.lastWrite, now - r.lastWrite >= keepAliveNs {
                guard r.sink.postKeepAlive() else { end(r); continue }
                r.lastWrite = now
            }
        }
    }

    private func end(_ r: Live) {
        let removed = live.withLock { l -> Bool in
            guard l[r.topic]?.removeValue(forKey: ObjectIdentifier(r)) != nil else { return false }
            if l[r.topic]?.isEmpty == true { l[r.topic] = nil }
            return true
        }
        if removed {
            count.subtract(1, ordering: .relaxed)
            r.done.resume()
        }
    }
}
