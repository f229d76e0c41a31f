import ProtoWire
import XCTest

final class WirePrimitiveTests: XCTestCase {
    func testVarintSizeMatchesTheEncodedLength() {
        for shift in 0..<64 {
            for v in [UInt64(1) << shift, (UInt64(1) << shift) - 1] {
                var w = WireWriter(capacity: 1)
                w.writeVarint(v)
                XCTAssertEqual(varintSize(v), w.count, "\(v)")
            }
        }
        XCTAssertEqual(varintSize(0), 1)
        XCTAssertEqual(varintSize(.max), 10)
    }

    func testVarintsRoundTripThroughWriterAndReader() throws {
        let values: [UInt64] = [0, 1, 127, 128, 300, 16383, 16384, UInt64(UInt32.max), .max]
        var w = WireWriter(capacity: 1)
        for v in values.reversed() { w.writeVarint(v) }  // back to front
        let bytes = w.bytes()
        try bytes.withUnsafeBytes { buf in
            var r = WireReader(buf)
            for v in values { XCTAssertEqual(try r.readVarint(), v) }
            XCTAssertEqual(r.remaining, 0)
        }
    }

    func testZigZagMapsSmallMagnitudesToSmallNumbers() {
        XCTAssertEqual(zigZagEncode32(0), 0)
        XCTAssertEqual(zigZagEncode32(-1), 1)
        XCTAssertEqual(zigZagEncode32(1), 2)
        XCTAssertEqual(zigZagEncode32(Int32.min), UInt32.max)
        XCTAssertEqual(zigZagEncode64(Int64.min), UInt64.max)
        for v: Int64 in [0, -1, 1, .min, .max, 123456789] { XCTAssertEqual(zigZagDecode64(zigZagEncode64(v)), v) }
        for v: Int32 in [0, -1, 1, .min, .max] { XCTAssertEqual(zigZagDecode32(zigZagEncode32(v)), v) }
    }

    func testWriterGrowsAndKeepsEarlierBytes() {
        var w = WireWriter(capacity: 16)
        for i in 0..<10_000 { w.writeByte(UInt8(truncatingIfNeeded: i)) }
        let bytes = w.bytes()
        XCTAssertEqual(bytes.count, 10_000)
        XCTAssertEqual(bytes.first, UInt8(truncatingIfNeeded: 9_999))
        XCTAssertEqual(bytes.last, 0)
    }

    func testStringsAreValidatedAsUTF8() {
        func check(_ bytes: [UInt8]) -> String? { bytes.withUnsafeBufferPointer { String(validatingUTF8Bytes: $0) } }
        XCTAssertEqual(check(Array("plain ascii text, longer than eight".utf8)), "plain ascii text, longer than eight")
        XCTAssertEqual(check(Array("é中🙂".utf8)), "é中🙂")
        XCTAssertNil(check([0xC3]))                    // truncated sequence
        XCTAssertNil(check([0xC0, 0x80]))              // overlong NUL
        XCTAssertNil(check([0xED, 0xA0, 0x80]))        // UTF-16 surrogate
        XCTAssertNil(check([0xF4, 0x90, 0x80, 0x80]))  // above U+10FFFF
        XCTAssertNil(check(Array("abcdefgh".utf8) + [0xFF]))
    }

    func testFixedWidthValuesAreLittleEndian() throws {
        var w = WireWriter()
        w.writeFixed32(0x0403_0201)
        XCTAssertEqual(w.bytes(), [1, 2, 3, 4])
        try [UInt8]([1, 2, 3, 4, 5, 6, 7, 8]).withUnsafeBytes { buf in
            var r = WireReader(buf)
            XCTAssertEqual(try r.readFixed64(), 0x0807_0605_0403_0201)
        }
    }
}
