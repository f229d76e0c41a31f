import TestSupport
import Generated
import ProtoWire
import TestContracts
import XCTest

/// Properties over generated random messages (seeded, so a failure reproduces).
final class RoundTripPropertyTests: XCTestCase {
    /// NaN never compares equal; the generator avoids it, so equality is exact.
    func testEncodeThenDecodeGivesTheSameMessage() throws {
        var gen = Arbitrary(rng: SeededRandom(seed: 20261121))
        for i in 0..<500 {
            let m = gen.allTypes()
            let decoded = try FixturesV1.AllTypes(serializedBytes: m.serializedBytes())
            XCTAssertEqual(decoded, m, "message \(i)")
        }
    }

    func testDeterministicEncodingIsStableAcrossEqualMessages() throws {
        var gen = Arbitrary(rng: SeededRandom(seed: 7))
        for _ in 0..<200 {
            let m = gen.allTypes()
            let bytes = m.serializedBytes(options: .init(deterministic: true))
            // Rebuild the maps in another insertion order: same bytes.
            var rebuilt = try FixturesV1.AllTypes(serializedBytes: bytes)
            rebuilt.mString = Dictionary(uniqueKeysWithValues: m.mString.reversed().map { ($0.key, $0.value) })
            XCTAssertEqual(rebuilt.serializedBytes(options: .init(deterministic: true)), bytes)
        }
    }

    func testReencodingDecodedBytesIsIdempotent() throws {
        var gen = Arbitrary(rng: SeededRandom(seed: 99))
        for _ in 0..<200 {
            let once = gen.allTypes().serializedBytes(options: .init(deterministic: true))
            let twice = try FixturesV1.AllTypes(serializedBytes: once).serializedBytes(options: .init(deterministic: true))
            XCTAssertEqual(once, twice)
        }
    }

    func testSizesAreLinearInNestingDepth() throws {
        // A 100-deep chain encodes to exactly the sum of its parts: each level adds tag + length prefix.
        var r = FixturesV1.Recursive()
        var expected = 0
        for depth in 1...99 {
            let inner = r.serializedBytes().count
            var parent = FixturesV1.Recursive()
            parent.child = r
            r = parent
            expected = 1 + varint(UInt64(inner)).count + inner
            XCTAssertEqual(r.serializedBytes().count, expected, "depth \(depth)")
        }
        XCTAssertEqual(try FixturesV1.Recursive(serializedBytes: r.serializedBytes()), r)
    }

    /// Corrupted input never crashes or hangs the decoder: it decodes or throws.
    func testMutatedInputEitherDecodesOrThrows() {
        var gen = Arbitrary(rng: SeededRandom(seed: 1234))
        var threw = 0
        for _ in 0..<2000 {
            var bytes = gen.allTypes().serializedBytes()
            guard !bytes.isEmpty else { continue }
            for _ in 0..<(1 + gen.count(3)) {
                let i = Int(gen.rng.next() % UInt64(bytes.count))
                switch gen.rng.next() % 3 {
                case 0: bytes[i] = UInt8(truncatingIfNeeded: gen.rng.next())
                case 1: bytes.removeSubrange(i...)
                default: bytes.insert(UInt8(truncatingIfNeeded: gen.rng.next()), at: i)
                }
                if bytes.isEmpty { break }
            }
            do { _ = try FixturesV1.AllTypes(serializedBytes: bytes) } catch { threw += 1 }
        }
        XCTAssertGreaterThan(threw, 0)
    }
}
