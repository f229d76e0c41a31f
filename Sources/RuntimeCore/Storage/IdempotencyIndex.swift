/// A run's idempotency keys, in 8 bytes each: an open-addressing table of
/// (32-bit tag of the key, seq of the event that used it). The key itself
/// stays in the log: a tag match is only a candidate, confirmed by reading
/// the event and comparing its key, so a tag collision costs a disk read,
/// never a wrong answer. The tag is stable across processes (FNV-1a), so a
/// snapshot can carry the table as (tag, seq) pairs.
struct IdempotencyIndex: Sendable {
    /// 0 is empty; otherwise `tag << 32 | seq`. At most 7/8 full, so a probe always ends.
    private var slots: [UInt64] = []
    /// Seqs beyond 32 bits, by tag (a run would need four billion events first).
    private var wide: [UInt32: [UInt64]] = [:]
    private(set) var count = 0

    mutating func insert(_ key: String, seq: UInt64) { insert(tag: IdempotencyIndex.tag(key), seq: seq) }

    mutating func insert(tag: UInt32, seq: UInt64) {
        count += 1
        guard seq <= UInt64(UInt32.max) else { wide[tag, default: []].append(seq); return }
        if count * 8 > slots.count * 7 { grow() }
        place(UInt64(tag) << 32 | seq)
    }

    /// Seqs whose event may carry `key`, oldest first.
    func candidates(_ key: String) -> [UInt64] {
        let tag = IdempotencyIndex.tag(key)
        var out: [UInt64] = []
        if !slots.isEmpty {
            let mask = slots.count - 1
            var i = IdempotencyIndex.start(tag, capacity: slots.count)
            while slots[i] != 0 {
                if UInt32(truncatingIfNeeded: slots[i] >> 32) == tag { out.append(slots[i] & 0xFFFF_FFFF) }
                i = (i + 1) & mask
            }
        }
        out += wide[tag] ?? []
        return out.sorted()
    }

    /// Every (tag, seq) pair in seq order (what a snapshot stores).
    var entries: [(tag: UInt32, seq: UInt64)] {
        var out = slots.filter { $0 != 0 }.map { (tag: UInt32(truncatingIfNeeded: $0 >> 32), seq: $0 & 0xFFFF_FFFF) }
        for (tag, seqs) in wide { out += seqs.map { (tag: tag, seq: $0) } }
        return out.sorted { $0.seq < $1.seq }
    }

    init(entries: [(tag: UInt32, seq: UInt64)] = []) {
        var capacity = 8
        while entries.count * 8 > capacity * 7 { capacity *= 2 }
        if !entries.isEmpty { slots = [UInt64](repeating: 0, count: capacity) }
        for e in entries { insert(tag: e.tag, seq: e.seq) }
    }

    private mutating func place(_ entry: UInt64) {
        let mask = slots.count - 1
        var i = IdempotencyIndex.start(UInt32(truncatingIfNeeded: entry >> 32), capacity: slots.count)
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = entry
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: max(8, old.count * 2))
        for e in old where e != 0 { place(e) }
    }

    /// Fibonacci hashing of the tag onto a power-of-two table.
    private static func start(_ tag: UInt32, capacity: Int) -> Int {
        let bits = UInt64(capacity.trailingZeroBitCount)
        return Int((UInt64(tag) &* 0x9E37_79B9_7F4A_7C15) >> (64 - bits))
    }

    /// The 64-bit FNV-1a hash of the key folded to 32 bits.
    static func tag(_ key: String) -> UInt32 {
        let h = hash(key)
        return UInt32(truncatingIfNeeded: h >> 32) ^ UInt32(truncatingIfNeeded: h)
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

extension IdempotencyIndex: Equatable {
    /// The same keys at the same seqs, whatever order the table was filled in.
    static func == (a: IdempotencyIndex, b: IdempotencyIndex) -> Bool {
        a.count == b.count && a.entries.elementsEqual(b.entries) { $0.tag == $1.tag && $0.seq == $1.seq }
    }
}
