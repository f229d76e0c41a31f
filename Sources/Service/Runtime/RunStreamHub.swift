import Dispatch
import Generated
import Synchronization

/// Wakes stream readers when their run commits new events. The ledger's
/// writer calls `publish` after each durable batch; it only takes a short lock
/// and resumes the waiters of the runs in the batch, so any number of readers
/// never slows the writer. Readers then copy the new events themselves.
public final class RunStreamHub: Sendable {
    private struct Waiter: Sendable {
        let id: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }
    private let waiters = Mutex<[String: [Waiter]]>([:])
    /// Recent events already framed as SSE, per run: every reader of a run sends
    /// the same bytes, so each event is encoded once, not once per reader.
    private let frames = Mutex<[String: [UInt64: [UInt8]]]>([:])
    static let framesKept = 256
    private let nextID = Atomic<UInt64>(1)

    public init() {}

    /// The writer's subscriber: wakes everyone waiting on a run in this batch.
    public func publish(_ records: [RuntimeV1.RuntimeLogRecord]) {
        var runs: Set<String> = []
        for r in records { if case .runEvent(let e)? = r.entry { runs.insert(e.runId) } }
        guard !runs.isEmpty else { return }
        let woken = waiters.withLock { w -> [Waiter] in
            var out: [Waiter] = []
            for run in runs { if let list = w.removeValue(forKey: run) { out += list } }
            return out
        }
        for waiter in woken { waiter.continuation.resume(returning: true) }
    }

    /// The SSE frame of `event` (`event: message`, `id:` = seq, `data:` = its JSON).
    public func frame(_ event: RuntimeV1.RuntimeRunEvent, encode: (RuntimeV1.RuntimeRunEvent) -> [UInt8]) -> [UInt8] {
        if let cached = frames.withLock({ $0[event.runId]?[event.seq] }) { return cached }
        let bytes = encode(event)
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

    public var waiting: Int { waiters.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Suspends until `runID` commits an event after `seq` (true) or `timeout`
    /// passes (false). `latest` reads the committed head after registering, so
    /// an event committed in between is never missed.
    public func wait(runID: String, after seq: UInt64, timeout: DispatchTimeInterval, latest: @Sendable () -> UInt64) async -> Bool {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            waiters.withLock { $0[runID, default: []].append(Waiter(id: id, continuation: continuation)) }
            if latest() > seq {
                if take(runID, id) { continuation.resume(returning: true) }
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in
                if take(runID, id) { continuation.resume(returning: false) }
            }
        }
    }

    /// Removes a waiter; true if it was still there (so exactly one side resumes it).
    private func take(_ runID: String, _ id: UInt64) -> Bool {
        waiters.withLock { w in
            guard var list = w[runID], let i = list.firstIndex(where: { $0.id == id }) else { return false }
            list.remove(at: i)
            w[runID] = list.isEmpty ? nil : list
            return true
        }
    }
}
