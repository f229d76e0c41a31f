import APIRuntime
import Foundation
import TestSupport
@testable import RuntimeCore
import XCTest

/// The event index: what grows with the log is on disk (memory keeps one
/// position per block), every entry reads back as written, the key filter
/// never misses a key, and a damaged block is reported, never used.
final class EventIndexTests: XCTestCase {
    func entry(_ i: Int, key: String? = nil) -> EventIndex.Entry {
        EventIndex.Entry(offset: UInt64(i) * 100, tag: key.map(IdempotencyKey.tag) ?? 0, keyed: key != nil)
    }

    func testMemoryKeepsOnlyTheEntriesAfterTheLastFullBlock() throws {
        let file = try EventIndexFile.scratch()
        var index = EventIndex()
        for i in 0..<1_000 { index.append(entry(i), file: file) }
        XCTAssertEqual(index.count, 1_000)
        XCTAssertEqual(index.blocks.count, 1_000 / EventIndex.blockEntries)
        XCTAssertEqual(index.tail.count, 1_000 % EventIndex.blockEntries)
        XCTAssertEqual(file.bytes, UInt64(index.blocks.count * EventIndexFile.blockBytes))
    }

    func testEveryRangeReadsBackWhatWasAppended() throws {
        let file = try EventIndexFile.scratch()
        var index = EventIndex()
        let written = (0..<300).map { entry($0, key: $0 % 3 == 0 ? "k\($0)" : nil) }
        for e in written { index.append(e, file: file) }
        var random = SeededRandom(seed: 7)
        for _ in 0..<200 {
            let a = Int.random(in: 0...300, using: &random), b = Int.random(in: a...300, using: &random)
            XCTAssertEqual(try index.page(a..<b).read(file), Array(written[a..<b]), "\(a)..<\(b)")
        }
        XCTAssertEqual(try index.all(file: file), written)
        XCTAssertEqual(try index.last(file: file), written.last)
    }

    func testTheKeyFilterNeverMissesAKeyThroughItsGrowths() throws {
        let file = try EventIndexFile.scratch()
        var index = EventIndex()
        for i in 0..<5_000 { index.append(entry(i, key: "key-\(i)"), file: file) }
        XCTAssertEqual(index.keyCount, 5_000)
        for i in stride(from: 0, to: 5_000, by: 37) {
            let seq = try index.find(tag: IdempotencyKey.tag("key-\(i)"), file: file) { _, e in e.offset == UInt64(i) * 100 }
            XCTAssertEqual(seq, UInt64(i + 1))
        }
        // Keys never used are mostly answered by the filter alone (12 bits a key: under 1% get through).
        let through = (0..<10_000).filter { index.filter.mayContain(IdempotencyKey.tag("other-\($0)"), file: file) }.count
        XCTAssertLessThan(through, 200)
    }

    func testEveryEntryWithACollidingTagIsOfferedNewestFirst() throws {
        let file = try EventIndexFile.scratch()
        var index = EventIndex()
        for i in 0..<100 { index.append(EventIndex.Entry(offset: UInt64(i), tag: 42, keyed: i % 10 == 0), file: file) }
        var offered: [UInt64] = []
        XCTAssertNil(try index.find(tag: 42, file: file) { seq, _ in offered.append(seq); return false })
        XCTAssertEqual(offered, [91, 81, 71, 61, 51, 41, 31, 21, 11, 1])
        XCTAssertEqual(IdempotencyKey.hash("a"), 0xaf63_dc4c_8601_ec8c, "FNV-1a 64 test vector")
    }

    func testCompactedEntriesLoseTheirOffsetAndTheirKey() throws {
        let file = try EventIndexFile.scratch()
        var index = EventIndex()
        for i in 0..<80 { index.append(entry(i, key: "k\(i)"), file: file) }
        index.markCompacted(10..<70, file: file)
        let all = try index.all(file: file)
        XCTAssertEqual(all[9], entry(9, key: "k9"))
        XCTAssertTrue(all[10..<70].allSatisfy { $0.offset == RuntimeLedger.compacted && !$0.keyed })
        XCTAssertEqual(all[70], entry(70, key: "k70"))
    }

    func testADamagedBlockIsReportedNotUsed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("index-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try EventIndexFile(path: dir + "/log.index")
        var index = EventIndex()
        for i in 0..<64 { index.append(entry(i), file: file) }
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: dir + "/log.index"))
        try handle.seek(toOffset: UInt64(EventIndexFile.blockBytes + 20))
        try handle.write(contentsOf: Data([0xFF]))
        try handle.close()
        XCTAssertEqual(try index.page(0..<32).read(file), (0..<32).map { entry($0) })
        XCTAssertThrowsError(try index.page(32..<64).read(file)) { error in
            XCTAssertTrue((error as? APIError)?.message.contains("damaged") == true, "\(error)")
        }
    }

    func testTheKeyFilterIsARegionOfTheIndexFileNotMemory() throws {
        let file = try EventIndexFile.scratch()
        var index = EventIndex()
        for i in 0..<10_000 { index.append(entry(i, key: "key-\(i)"), file: file) }
        // Memory: a position per block, the tail, and the region's place and size.
        XCTAssertEqual(index.blocks.count, 10_000 / EventIndex.blockEntries)
        XCTAssertEqual(index.tail.count, 10_000 % EventIndex.blockEntries)
        XCTAssertEqual(index.filter.count, index.blocks.count * EventIndex.blockEntries)
        XCTAssertGreaterThanOrEqual(index.filter.capacity, index.filter.count)
        // The file: the blocks, and the regions the filter grew through (doubling: under twice the last).
        let blockBytes = UInt64(index.blocks.count * EventIndexFile.blockBytes)
        let region = UInt64(index.filter.blocks * KeyFilter.blockBytes)
        XCTAssertGreaterThan(file.bytes, blockBytes + region)
        XCTAssertLessThan(file.bytes, blockBytes + 2 * region)
    }

    func testAFilterRegionSavedAndLoadedAnswersAsBefore() throws {
        let file = try EventIndexFile.scratch()
        var index = EventIndex()
        for i in 0..<3_000 { index.append(entry(i, key: "key-\(i)"), file: file) }
        let saved = index.filter.saved
        let loaded = KeyFilter(at: saved.at, blocks: saved.blocks, count: saved.count)
        XCTAssertEqual(loaded, index.filter)
        for i in 0..<2_000 {
            let tag = IdempotencyKey.tag("probe-\(i)")
            XCTAssertEqual(loaded.mayContain(tag, file: file), index.filter.mayContain(tag, file: file))
        }
    }

    func testABrokenFilterIsSavedBrokenAndSaysMaybe() throws {
        let file = try EventIndexFile.scratch()
        // What a snapshot holds for a filter whose write failed: no region, and keys.
        let broken = KeyFilter(at: 0, blocks: 0, count: 40)
        XCTAssertTrue(broken.broken)
        XCTAssertTrue(broken.mayContain(IdempotencyKey.tag("anything"), file: file))
        XCTAssertEqual(broken.saved.blocks, 0)
        XCTAssertEqual(KeyFilter(at: broken.saved.at, blocks: broken.saved.blocks, count: broken.saved.count), broken)
        // Its next growth rebuilds a region from every key of the full blocks.
        var filter = broken
        filter.insert([IdempotencyKey.tag("new")], file: file) { () throws(APIError) -> [UInt32] in ["old", "new"].map(IdempotencyKey.tag) }
        XCTAssertFalse(filter.broken)
        XCTAssertEqual(filter.count, 2)
        XCTAssertTrue(filter.mayContain(IdempotencyKey.tag("old"), file: file))
        XCTAssertFalse(KeyFilter().mayContain(IdempotencyKey.tag("old"), file: file), "an empty filter holds nothing")
    }
}
