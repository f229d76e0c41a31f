import Dispatch
import Foundation
import Generated
import APIRuntime
import Synchronization

/// Delivers committed run events to the SSE streams that have caught up
/// ("live" streams), from one thread. The ledger's writer only marks which
/// runs changed (a short lock and a semaphore signal), so readers never slow
/// it; the fan-out thread then copies each changed run's new events once,
/// frames each event once, and posts the bytes to every live stream of that
/// run, without waking a task per stream. It also ends streams whose
/// `tail_ms` ran out, sends keep-alive comments, and ends a stream with
/// `data: [DONE]` after its run's terminal event.
public final class RunStreamHub: Sendable {
    /// A caught-up stream; touched only by the fan-out thread once registered.
    final class Live: @unchecked Sendable {
        let runID: String
        let writer: any StreamSink
        var sent: UInt64
        var lastWrite: UInt64
        let deadline: UInt64?
        let done: CheckedContinuation<Void, Never>
        init(runID: String, writer: any StreamSink, sent: UInt64, lastWrite: UInt64, deadline: UInt64?, done: CheckedContinuation<Void, Never>) {
            self.runID = runID
            self.writer = writer
            self.sent = sent
            self.lastWrite = lastWrite
            self.deadline = deadline
            self.done = done
        }
    }

    private let live = Mutex<[String: [ObjectIdentifier: Live]]>([:])
    private let dirty = Mutex<Set<String>>([])
    private let wake = DispatchSemaphore(value: 0)
    /// Recent events already framed as SSE, per run (encoded once, not once per reader).
    private let frames = Mutex<[String: [UInt64: [UInt8]]]>([:])
    static let framesKept = 256
    private let heartbeatNs: UInt64
    private let ledger: any RuntimeStore
    static let doneFrame = Array("data: [DONE]\n\n".utf8)
    static let keepAlive = Array(": keep-alive\n\n".utf8)

    public init(ledger: any RuntimeStore, heartbeatMs: UInt64) {
        self.ledger = ledger
        heartbeatNs = heartbeatMs * 1_000_000
        let t = Thread { [self] in self.run() }
        t.name = "stream-fanout"
        t.start()
    }

    /// The writer's subscriber: notes the runs this batch touched that have
    /// live streams (the fan-out thread is not woken for anything else).
    public func publish(_ records: [RuntimeV1.RuntimeLogRecord]) {
        var runs: [String] = []
        for r in records { if case .runEvent(let e)? = r.entry { runs.append(e.runId) } }
        guard !runs.isEmpty else { return }
        let followed = live.withLock { l in runs.filter { l[$0] != nil } }
        guard !followed.isEmpty else { return }
        dirty.withLock { $0.formUnion(followed) }
        wake.signal()
    }

    /// Hands a caught-up stream to the fan-out thread; returns when the stream
    /// has ended (terminal event sent, `tail_ms` over, or the client gone).
    public func follow(runID: String, writer: any StreamSink, sent: UInt64, deadline: UInt64?) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let stream = Live(runID: runID, writer: writer, sent: sent, lastWrite: Self.now(), deadline: deadline, done: done)
            live.withLock { $0[runID, default: [:]][ObjectIdentifier(stream)] = stream }
            // Events committed since the stream caught up are delivered on the next pass.
            dirty.withLock { _ = $0.insert(runID) }
            wake.signal()
        }
    }

    /// The SSE frame of `event` (`event: message`, `id:` = seq, `data:` = its JSON).
    public func frame(_ event: RuntimeV1.RuntimeRunEvent) -> [UInt8] {
        if let cached = frames.withLock({ $0[event.runId]?[event.seq] }) { return cached }
        let bytes = RunEventFrames.frame(event)
        frames.withLock { f in
            var run = f[event.runId] ?? [:]
            run[event.seq] = bytes
            if run.count > 2 * Self.framesKept {
                let floor = event.seq > UInt64(Self.framesKept) ? event.seq - UInt64(Self.framesKept) : 0
                run = run.filter { $0.key > floor }
            }
            f[event.runId] = run
        }
        return bytes
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    // MARK: The fan-out thread

    private func run() {
        var lastSweep = Self.now()
        while true {
            _ = wake.wait(timeout: .now() + .milliseconds(50))
            let runs = dirty.withLock { d -> Set<String> in let r = d; d.removeAll(keepingCapacity: true); return r }
            for runID in runs { deliver(runID) }
            let now = Self.now()
            if now - lastSweep >= 50_000_000 {
                sweep(now)
                lastSweep = now
            }
        }
    }

    private func deliver(_ runID: String) {
        let streams = live.withLock { Array(($0[runID] ?? [:]).values) }
        guard var floor = streams.map(\.sent).min() else { return }
        while true {
            guard let (run, events) = try? ledger.events(of: runID, after: floor, limit: 512) else {
                for s in streams { end(s) }
                return
            }
            if let last = events.last {
                let framed = events.map { frame($0) }
                for s in streams where s.sent < last.seq {
                    var batch: [UInt8] = []
                    for (e, f) in zip(events, framed) where e.seq > s.sent { batch += f }
                    guard s.writer.post(framed: batch) else { end(s); continue }
                    s.sent = last.seq
                    s.lastWrite = Self.now()
                }
                floor = last.seq
                if floor < run.latestSeq { continue }
            }
            if RunEventFrames.isTerminal(run.status) {
                for s in streams where s.sent >= run.latestSeq {
                    _ = s.writer.post(framed: Self.doneFrame)
                    end(s)
                }
            }
            return
        }
    }

    private func sweep(_ now: UInt64) {
        let all = live.withLock { $0.values.flatMap { $0.values } }
        for s in all {
            if let deadline = s.deadline, now >= deadline { end(s); continue }
            if now > s.lastWrite, now - s.lastWrite >= heartbeatNs {
                guard s.writer.post(framed: Self.keepAlive) else { end(s); continue }
                s.lastWrite = now
            }
        }
    }

    /// Unregisters a stream and lets its response finish (once).
    private func end(_ s: Live) {
        let removed = live.withLock { l -> Bool in
            guard l[s.runID]?.removeValue(forKey: ObjectIdentifier(s)) != nil else { return false }
            if l[s.runID]?.isEmpty == true { l[s.runID] = nil }
            return true
        }
        if removed { s.done.resume() }
    }
}
