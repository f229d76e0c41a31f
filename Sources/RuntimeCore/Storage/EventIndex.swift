import APIRuntime

/// Where one run's (or worker's) events are in the log, by seq, and which of
/// them carry an idempotency key. Memory keeps a block position per
/// `blockEntries` events, the entries after the last full block, and a Bloom
/// filter of key tags (10 bits a key); the entries themselves are in the
/// index file (`EventIndexFile`). So a run costs about 1.5 bytes of memory per
/// event, and what grows with the log is on disk.
///
/// A value type: the ledger mutates it under its lock and hands readers a
/// `Page`, a copy of just the positions a read needs, to read outside the lock.
struct EventIndex: Sendable {
    static let blockEntries = 32

    struct Entry: Sendable, Equatable {
        /// The byte offset of the event's line in the log (`RuntimeLedger.compacted` once removed).
        var offset: UInt64
        /// `IdempotencyKey.tag` of the event's key (0 without one).
        var tag: UInt32 = 0
        var keyed = false
    }

    /// The index file position of each full block; block `i` holds the events of seqs `32i+1 ... 32i+32`.
    private(set) var blocks: [UInt64] = []
    /// The entries after the last full block (more than a block's worth only while the file refuses writes).
    private(set) var tail: [Entry] = []
    private(set) var filter = KeyFilter()

    init() {}

    init(blocks: [UInt64], tail: [Entry], filter: KeyFilter) {
        self.blocks = blocks
        self.tail = tail
        self.filter = filter
    }

    var count: Int { blocks.count * EventIndex.blockEntries + tail.count }

    /// Adds the next seq's entry; full blocks go to the file.
    mutating func append(_ entry: Entry, file: EventIndexFile) {
        if entry.keyed {
            if filter.count >= filter.capacity, filter.count > 0, let tags = try? keyTags(file: file) {
                // Grown by doubling, so rereading the tags costs one read per key overall.
                filter = KeyFilter(tags: tags, capacity: 2 * (filter.count + 1))
            }
            filter.insert(entry.tag)
        }
        tail.append(entry)
        flush(file)
    }

    /// Writes every full block of the tail (again, after a failed write).
    mutating func flush(_ file: EventIndexFile) {
        var written = 0
        while tail.count - written >= EventIndex.blockEntries, let at = file.append(tail[written..<(written + EventIndex.blockEntries)]) {
            blocks.append(at)
            written += EventIndex.blockEntries
        }
        if written > 0 { tail = Array(tail[written...]) }  // a fresh, small buffer: a run's tail costs what it holds
    }

    /// The positions a read of entries `range` (0-based: seq - 1) needs, copied so they can be read without the ledger's lock.
    func page(_ range: Range<Int>) -> Page {
        let n = EventIndex.blockEntries
        var page = Page(range: range)
        guard !range.isEmpty else { return page }
        let firstBlock = range.lowerBound / n
        let endBlock = min(blocks.count, (range.upperBound + n - 1) / n)
        if firstBlock < endBlock { page.blocks = Array(blocks[firstBlock..<endBlock]).enumerated().map { ($0.element, (firstBlock + $0.offset) * n) } }
        let tailStart = blocks.count * n
        if range.upperBound > tailStart {
            page.tail = Array(tail[(max(range.lowerBound, tailStart) - tailStart)..<(range.upperBound - tailStart)])
            page.tailStart = max(range.lowerBound, tailStart)
        }
        return page
    }

    /// A read of consecutive entries, taken under the lock and read outside it.
    struct Page: Sendable {
        var range: Range<Int>
        /// (file position, index of its first entry) of each block the range touches.
        var blocks: [(UInt64, Int)] = []
        var tail: [Entry] = []
        var tailStart = 0

        func read(_ file: EventIndexFile) throws(APIError) -> [Entry] {
            var out: [Entry] = []
            out.reserveCapacity(range.count)
            for (at, first) in blocks {
                let entries = try file.read(at: at)
                for (i, e) in entries.enumerated() where range.contains(first + i) { out.append(e) }
            }
            out += tail
            return out
        }
    }

    /// Every entry (a full comparison of two states).
    func all(file: EventIndexFile) throws(APIError) -> [Entry] { try page(0..<count).read(file) }

    func last(file: EventIndexFile) throws(APIError) -> Entry? {
        if let e = tail.last { return e }
        guard let at = blocks.last else { return nil }
        return try file.read(at: at).last
    }

    /// The first keyed entry, newest first, with `tag` that `matches` accepts
    /// (it reads the event and compares the whole key). The filter answers
    /// most misses without a read; a false positive (under 1%) reads the run's blocks.
    func find(tag: UInt32, file: EventIndexFile, matches: (_ seq: UInt64, Entry) throws(APIError) -> Bool) throws(APIError) -> UInt64? {
        guard filter.mayContain(tag) else { return nil }
        let tailStart = blocks.count * EventIndex.blockEntries
        for (i, e) in tail.enumerated().reversed() where e.keyed && e.tag == tag {
            if try matches(UInt64(tailStart + i + 1), e) { return UInt64(tailStart + i + 1) }
        }
        for (b, at) in blocks.enumerated().reversed() {
            for (i, e) in try file.read(at: at).enumerated().reversed() where e.keyed && e.tag == tag {
                let seq = UInt64(b * EventIndex.blockEntries + i + 1)
                if try matches(seq, e) { return seq }
            }
        }
        return nil
    }

    /// Marks entries `range` (0-based) as removed by compaction: offset `compacted`, no key.
    mutating func markCompacted(_ range: Range<Int>, file: EventIndexFile) {
        let n = EventIndex.blockEntries
        let removed = Entry(offset: RuntimeLedger.compacted)
        for b in (range.lowerBound / n)..<min(blocks.count, (range.upperBound + n - 1) / n) {
            guard var entries = try? file.read(at: blocks[b]) else { continue }
            for i in entries.indices where range.contains(b * n + i) { entries[i] = removed }
            _ = file.rewrite(entries, at: blocks[b])
        }
        let tailStart = blocks.count * n
        for i in tail.indices where range.contains(tailStart + i) { tail[i] = removed }
    }

    private func keyTags(file: EventIndexFile) throws(APIError) -> [UInt32] {
        try all(file: file).filter(\.keyed).map(\.tag)
    }
}

/// A Bloom filter over 32-bit key tags: 10 bits a key and 7 probes (about
/// 0.8% false positives at capacity). It only says "certainly not" or "maybe";
/// the index behind it decides.
struct KeyFilter: Sendable, Equatable {
    static let bitsPerKey = 10
    static let probes = 7
    private(set) var words: [UInt64] = []
    private(set) var count = 0

    init() {}

    init(words: [UInt64], count: Int) {
        self.words = words
        self.count = count
    }

    init(tags: [UInt32], capacity: Int) {
        words = [UInt64](repeating: 0, count: max(1, (max(capacity, tags.count) * KeyFilter.bitsPerKey + 63) / 64))
        for t in tags { insert(t) }
    }

    /// How many keys it holds before its false-positive rate passes its design.
    var capacity: Int { words.count * 64 / KeyFilter.bitsPerKey }

    mutating func insert(_ tag: UInt32) {
        if words.isEmpty { words = [UInt64](repeating: 0, count: (16 * KeyFilter.bitsPerKey + 63) / 64) }
        count += 1
        let bits = UInt64(words.count * 64)
        var (h, step) = KeyFilter.hashes(tag)
        for _ in 0..<KeyFilter.probes {
            let bit = h % bits
            words[Int(bit / 64)] |= 1 << (bit % 64)
            h &+= step
        }
    }

    func mayContain(_ tag: UInt32) -> Bool {
        guard !words.isEmpty else { return false }
        let bits = UInt64(words.count * 64)
        var (h, step) = KeyFilter.hashes(tag)
        for _ in 0..<KeyFilter.probes {
            let bit = h % bits
            if words[Int(bit / 64)] & (1 << (bit % 64)) == 0 { return false }
            h &+= step
        }
        return true
    }

    /// Double hashing from one multiply: two 32-bit halves, the step odd.
    private static func hashes(_ tag: UInt32) -> (UInt64, UInt64) {
        let h = (UInt64(tag) ^ 0x5bd1_e995) &* 0x9E37_79B9_7F4A_7C15
        return (h >> 32, (h & 0xFFFF_FFFF) | 1)
    }
}

/// The 32-bit tag of an idempotency key: FNV-1a 64 over its UTF-8, halves
/// xored. Stable across processes, so the index file and snapshots carry it.
enum IdempotencyKey {
    static func tag(_ key: String) -> UInt32 {
        let h = hash(key)
        return UInt32(truncatingIfNeeded: h >> 32) ^ UInt32(truncatingIfNeeded: h)
    }

    static func hash(_ key: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        return h
    }
}
