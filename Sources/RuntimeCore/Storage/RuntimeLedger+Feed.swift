import APIRuntime
import Generated

/// The embedded backend's change feed: committed records read back from the
/// log in order, from the byte offset the cursor carries.
extension RuntimeLedger: RuntimeStore {
    public func changes(after cursor: ChangeCursor, limit: Int) throws(APIError) -> (records: [RuntimeV1.RuntimeLogRecord], next: ChangeCursor) {
        let page = try changes(after: cursor, limit: limit, workersOnly: false)
        return (page.records, page.next)
    }

    public func workerChanges(after cursor: ChangeCursor, limit: Int) throws(APIError) -> (records: [RuntimeV1.RuntimeLogRecord], next: ChangeCursor, read: Int) {
        try changes(after: cursor, limit: limit, workersOnly: true)
    }

    /// `workersOnly`: lines that cannot hold a worker record are stepped over
    /// undecoded (the first is still decoded: it proves the cursor a boundary).
    private func changes(after cursor: ChangeCursor, limit: Int, workersOnly: Bool) throws(APIError) -> (records: [RuntimeV1.RuntimeLogRecord], next: ChangeCursor, read: Int) {
        let (lsn, end) = committedPosition
        guard cursor.lsn <= lsn, cursor.position <= end, (cursor.lsn == 0) == (cursor.position == 0) else {
            throw APIError.invalidRequest("cursor \(cursor.token) was not issued by this log")
        }
        // A position that is not just after a newline is no record boundary of this log.
        if cursor.position > 0, try reader.bytes(at: cursor.position - 1, count: 1) != [0x0A] {
            throw APIError.invalidRequest("cursor \(cursor.token) was not issued by this log")
        }
        if cursor.lsn == lsn || limit <= 0 { return ([], cursor, 0) }
        var records: [RuntimeV1.RuntimeLogRecord] = []
        var position = cursor.position
        var expected = cursor.lsn + 1
        for (offset, line) in try reader.lines(from: cursor.position, before: end, limit: limit) {
            position = offset + UInt64(line.count) + 1
            if workersOnly, expected != cursor.lsn + 1, !LogFile.mayHoldWorkerEvent(line[...]) {
                expected += 1
                continue
            }
            let record: RuntimeV1.RuntimeLogRecord
            do throws(LogFile.LineProblem) { record = try LogFile.decode(line[...]) } catch {
                throw APIError.internalError("event log \(path) is damaged at byte \(offset): \(error)")
            }
            // A cursor that does not sit on a record boundary of this log shows here.
            guard record.lsn == expected else { throw APIError.invalidRequest("cursor \(cursor.token) was not issued by this log") }
            if !workersOnly || record.isWorkerEvent { records.append(record) }
            expected += 1
        }
        return (records, ChangeCursor(lsn: expected - 1, position: position), Int(expected - 1 - cursor.lsn))
    }
}

extension RuntimeV1.RuntimeLogRecord {
    var isWorkerEvent: Bool { if case .workerEvent? = entry { return true } else { return false } }
}

extension LogReader {
    /// Up to `limit` whole lines starting at byte `from`, none reaching past
    /// `before` (the committed end), each with its offset; read in large blocks.
    func lines(from: UInt64, before end: UInt64, limit: Int) throws(APIError) -> [(UInt64, [UInt8])] {
        var out: [(UInt64, [UInt8])] = []
        var position = from
        var block = 1 << 20
        while position < end && out.count < limit {
            let want = Int(min(UInt64(block), end - position))
            let chunk = try bytes(at: position, count: want)
            if chunk.isEmpty {
                // The end of a segment: lines never span two, the next one starts at its base.
                guard let next = nextSegmentBase(after: position), next <= end else {
                    throw APIError.internalError("event log \(path) has no segment at byte \(position)")
                }
                position = next
                continue
            }
            var start = 0
            var took = false
            while out.count < limit, let newline = chunk[start...].firstIndex(of: 0x0A) {
                out.append((position + UInt64(start), Array(chunk[start..<newline])))
                start = newline + 1
                took = true
            }
            if !took {
                // One line longer than the block: read more at once.
                guard chunk.count == want, UInt64(want) < end - position else { throw APIError.internalError("event log \(path) ends inside the line at byte \(position)") }
                block *= 4
                continue
            }
            position += UInt64(start)
        }
        return out
    }
}
