/// A run's idempotency keys, held as 64-bit hashes of the key (FNV-1a, stable
/// across processes so a snapshot can carry it) mapped to the seq of the event
/// that used it. The key itself stays in the log: a hit is only a candidate,
/// confirmed by reading the event and comparing its key, so a hash collision
/// costs a disk read, never a wrong answer. 16 bytes per key instead of a
/// String and an event in memory.
struct IdempotencyIndex: Sendable, Equatable {
    /// hash -> seq of the first event whose key has that hash.
    private(set) var first: [UInt64: UInt64] = [:]
    /// Further seqs whose keys share a hash already in `first` (collisions; almost always empty).
    private(set) var more: [UInt64: [UInt64]] = [:]

    var count: Int { first.count + more.values.reduce(0) { $0 + $1.count } }

    mutating func insert(_ key: String, seq: UInt64) {
        let h = IdempotencyIndex.hash(key)
        if first[h] == nil { first[h] = seq } else { more[h, default: []].append(seq) }
    }

    /// Seqs whose event may carry `key`, oldest first.
    func candidates(_ key: String) -> [UInt64] {
        let h = IdempotencyIndex.hash(key)
        guard let s = first[h] else { return [] }
        return [s] + (more[h] ?? [])
    }

    /// Every (hash, seq) pair, in seq order (what a snapshot stores).
    var entries: [(hash: UInt64, seq: UInt64)] {
        var out = first.map { (hash: $0.key, seq: $0.value) }
        for (h, seqs) in more { out += seqs.map { (hash: h, seq: $0) } }
        return out.sorted { $0.seq < $1.seq }
    }

    /// Rebuilds the index from `entries` (in seq order, as `entries` gives them).
    init(entries: [(hash: UInt64, seq: UInt64)] = []) {
        first.reserveCapacity(entries.count)
        for e in entries {
            if first[e.hash] == nil { first[e.hash] = e.seq } else { more[e.hash, default: []].append(e.seq) }
        }
    }

    /// FNV-1a, 64-bit, over the key's UTF-8.
    static func hash(_ key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }
}
