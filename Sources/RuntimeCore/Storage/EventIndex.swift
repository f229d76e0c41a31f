import APIRuntime

/// Where one run's (or worker's) events are in the log, by seq, and which of
/// them carry an idempotency key. Memory keeps a block position per
/// `blockEntries` events, the entries after the last full block, and where
/// its key filter is; the entries and the filter's bits are in the index file
/// (`EventIndexFile`). So a run costs about a quarter of a byte of memory per
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

    /// How many entries carry a key.
    var keyCount: Int { filter.count + tail.count { $0.keyed } }

    /// Whether any entry carries a key (a lookup then needs `find`).
    var hasKeys: Bool { filter.count > 0 || tail.contains { $0.keyed } }

    /// Adds the next seq's entry; full blocks go to the file.
    mutating func append(_ entry: Entry, file: EventIndexFile) {
        tail.append(entry)
        flush(file)
    }

    /// Writes every full block of the tail (again, after a failed write), and
    /// their keys into the filter before they leave memory.
    mutating func flush(_ file: EventIndexFile) {
        var written = 0
        while tail.count - written >= EventIndex.blockEntries, let at = file.append(tail[written..<(written + EventIndex.blockEntries)]) {
            blocks.append(at)
            written += EventIndex.blockEntries
        }
        guard written > 0 else { return }
        let tags = tail[..<written].filter(\.keyed).map(\.tag)
        // Grown by doubling, so rereading the tags costs one read per key overall.
        let sealed = blocks
        filter.insert(tags, file: file) { () throws(APIError) -> [UInt32] in
            var all: [UInt32] = []
            for at in sealed { all += try file.read(at: at).filter(\.keyed).map(\.tag) }
            return all
        }
        tail = Array(tail[written...])  // a fresh, small buffer: a run's tail costs what it holds
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
    /// (it reads the event and compares the whole key). The entries after the
    /// last block are searched in memory; the filter answers most misses in the
    /// blocks with one small read, and a false positive (under 1%) reads the run's blocks.
    func find(tag: UInt32, file: EventIndexFile, matches: (_ seq: UInt64, Entry) throws(APIError) -> Bool) throws(APIError) -> UInt64? {
        let tailStart = blocks.count * EventIndex.blockEntries
        for (i, e) in tail.enumerated().reversed() where e.keyed && e.tag == tag {
            if try matches(UInt64(tailStart + i + 1), e) { return UInt64(tailStart + i + 1) }
        }
        guard filter.mayContain(tag, file: file) else { return nil }
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
}

/// A blocked Bloom filter over 32-bit key tags, kept in the index file so
/// that memory holds three numbers a run however many keys it has: each tag
/// picks one 64-byte block and sets 7 of its 512 bits, so a lookup is one
/// 64-byte read (the page cache's, usually). 12 bits a key: about 0.5% false
/// positives at capacity. It only says "certainly not" or "maybe"; the index
/// behind it decides.
///
/// It covers the keys of the run's full blocks; the entries after them are in
/// memory and searched directly. Grown by doubling into a fresh region
/// (rebuilt from the tags in the index's blocks); a region is otherwise
/// updated in place, only ever setting bits. So a region the snapshot names
/// holds every key the snapshot covers, and any bit set after it (cut from
/// the tail at start-up and inserted again) can only cost a false positive.
struct KeyFilter: Sendable, Equatable {
    static let bitsPerKey = 12
    static let probes = 7
    static let blockBytes = 64
    static let blockBits = blockBytes * 8

    /// Where the region starts in the index file, and its 64-byte blocks (0: no region yet).
    private(set) var at: UInt64 = 0
    private(set) var blocks = 0
    /// How many keys were inserted.
    private(set) var count = 0
    /// A write failed: every lookup says "maybe" until the next growth rebuilds a region.
    private(set) var broken = false

    init() {}

    /// As `saved` gave it: a broken filter is saved with no blocks and a count, and comes back broken.
    init(at: UInt64, blocks: Int, count: Int) {
        (self.at, self.blocks, self.count) = (at, blocks, count)
        broken = blocks == 0 && count > 0
    }

    var saved: (at: UInt64, blocks: Int, count: Int) { broken ? (0, 0, max(1, count)) : (at, blocks, count) }

    /// How many keys it holds before its false-positive rate passes its design.
    var capacity: Int { blocks * KeyFilter.blockBits / KeyFilter.bitsPerKey }

    /// Adds `tags`; `all` gives every tag the filter must hold (the old and the
    /// new ones) when it grows into a new region.
    mutating func insert(_ tags: [UInt32], file: EventIndexFile, all: () throws(APIError) -> [UInt32]) {
        guard !tags.isEmpty else { return }
        if broken || count + tags.count > capacity {
            guard let every = try? all() else { broken = true; return }
            let size = max(2, (2 * every.count * KeyFilter.bitsPerKey + KeyFilter.blockBits - 1) / KeyFilter.blockBits)
            var bytes = [UInt8](repeating: 0, count: size * KeyFilter.blockBytes)
            for t in every { KeyFilter.set(t, in: &bytes, blocks: size, base: 0) }
            guard let position = file.appendRegion(bytes) else { broken = true; return }
            (at, blocks, count, broken) = (position, size, every.count, false)
            return
        }
        let whole = blocks * KeyFilter.blockBytes
        if whole <= 4096 {
            // A small region: one read and one write.
            guard var bytes = file.readBytes(at: at, count: whole) else { broken = true; return }
            for t in tags { KeyFilter.set(t, in: &bytes, blocks: blocks, base: 0) }
            guard file.writeBytes(bytes, at: at) else { broken = true; return }
        } else {
            var touched: [Int: [UInt32]] = [:]
            for t in tags { touched[KeyFilter.probe(t).block % blocks, default: []].append(t) }
            for (block, group) in touched {
                let position = at + UInt64(block * KeyFilter.blockBytes)
                guard var bytes = file.readBytes(at: position, count: KeyFilter.blockBytes) else { broken = true; return }
                for t in group { KeyFilter.set(t, in: &bytes, blocks: blocks, base: block) }
                guard file.writeBytes(bytes, at: position) else { broken = true; return }
            }
        }
        count += tags.count
    }

    /// False only when no inserted key has `tag` (a read that fails says "maybe").
    func mayContain(_ tag: UInt32, file: EventIndexFile) -> Bool {
        if broken { return true }
        guard blocks > 0, count > 0 else { return false }
        let p = KeyFilter.probe(tag)
        let block = p.block % blocks
        guard let bytes = file.readBytes(at: at + UInt64(block * KeyFilter.blockBytes), count: KeyFilter.blockBytes) else { return true }
        var bit = p.first
        for _ in 0..<KeyFilter.probes {
            if bytes[Int(bit / 8)] & (1 << (bit % 8)) == 0 { return false }
            bit = (bit &+ p.step) % UInt32(KeyFilter.blockBits)
        }
        return true
    }

    /// Sets `tag`'s bits in `bytes`, which start at block `base` of a region of `blocks`.
    private static func set(_ tag: UInt32, in bytes: inout [UInt8], blocks: Int, base: Int) {
        let p = probe(tag)
        let offset = (p.block % blocks - base) * blockBytes
        var bit = p.first
        for _ in 0..<probes {
            bytes[offset + Int(bit / 8)] |= 1 << (bit % 8)
            bit = (bit &+ p.step) % UInt32(blockBits)
        }
    }

    /// The block (before the modulo) and the bits in it, by double hashing from one 64-bit mix.
    private static func probe(_ tag: UInt32) -> (block: Int, first: UInt32, step: UInt32) {
        var h = UInt64(tag) &+ 0x9E37_79B9_7F4A_7C15
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        h ^= h >> 31
        return (Int(truncatingIfNeeded: h >> 33), UInt32(truncatingIfNeeded: h) % UInt32(blockBits), (UInt32(truncatingIfNeeded: h >> 16) % UInt32(blockBits)) | 1)
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
