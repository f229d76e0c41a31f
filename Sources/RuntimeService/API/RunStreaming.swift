import APIRuntime
import RuntimeCore
import Dispatch
import Generated
import ProtoWire
import ServiceKit

/// `GET /internal/v1/runs/{run_id}/stream`: server-sent events over a run's
/// committed events (runtime-internal-contract.md, cursor and tail rules).
enum RunStreaming {
    /// Where a stream starts, from `Last-Event-ID` and `?cursor`.
    struct Start: Equatable {
        var after: UInt64
        var tailMs: UInt64?
    }

    /// The cursor and tail rules, in the contract's order.
    static func resolve(lastEventID: String?, cursor: String?, tailMs: String?, latest: UInt64, retention: UInt64) throws -> Start {
        let header = lastEventID?.whitespaceTrimmed
        let query = cursor?.whitespaceTrimmed
        if let header, let query, header != query {
            throw ServiceError.invalidRequest("Last-Event-ID \(header) and cursor \(query) differ")
        }
        var tail: UInt64?
        if let tailMs {
            guard let t = UInt64(tailMs), t > 0 else { throw ServiceError.invalidRequest("tail_ms must be a positive integer") }
            tail = t
        }
        guard let text = header ?? query else { return Start(after: latest, tailMs: tail) }  // no cursor: from the head, tailing
        guard let c = UInt64(text) else { throw ServiceError.invalidRequest("cursor must be a non-negative integer seq") }
        let floor = retention > 0 && latest > retention ? latest - retention : 0
        if c < floor {
            throw ServiceError(410, "stale_cursor", "cursor \(c) is below the retention floor \(floor)", headers: [("cache-control", "no-store")]) { body in
                body.oldestAvailableCursor = floor
                body.headCursor = latest
            }
        }
        guard c <= latest else { throw ServiceError.invalidRequest("cursor \(c) is ahead of the run's latest seq \(latest)") }
        return Start(after: c, tailMs: tail)
    }

    static func isTerminal(_ s: RuntimeV1.RuntimeRunStatus) -> Bool { RunEventFrames.isTerminal(s) }

    /// Sends every committed event after the start (awaiting each write, so a
    /// long backlog cannot outrun a slow client), then hands the caught-up
    /// stream to the hub, which delivers new events as they commit, keep-alive
    /// comments when idle, `data: [DONE]` after the terminal event, and ends the
    /// response when `tail_ms` runs out.
    static func stream(runID: String, from start: Start, ledger: any RuntimeStore, hub: RunStreamHub, to w: any StreamSink) async {
        var sent = start.after
        let deadline = start.tailMs.map { DispatchTime.now().uptimeNanoseconds + $0 * 1_000_000 }
        while true {
            guard let (run, events) = try? ledger.events(of: runID, after: sent, limit: 512) else { return }
            if let last = events.last {
                var batch: [UInt8] = []
                for e in events { batch += hub.frame(e) }
                guard await w.send(framed: batch) else { return }
                sent = last.seq
                if sent < run.latestSeq { continue }
            }
            if isTerminal(run.status) && sent >= run.latestSeq {
                _ = await w.send(data: "[DONE]")
                return
            }
            break
        }
        if let deadline, DispatchTime.now().uptimeNanoseconds >= deadline { return }
        await hub.follow(runID: runID, writer: w, sent: sent, deadline: deadline)
    }
}
