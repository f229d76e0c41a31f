import ProtoWire
import TestContracts
import XCTest

/// One test per decoding error: each fails with a typed error naming the
/// problem and the byte offset (and the field, where one is being read).
final class BinaryDecodingErrorTests: XCTestCase {
    typealias AllTypes = FixturesV1.AllTypes

    private func assertFails(_ bytes: [UInt8], _ kind: WireDecodingError.Kind, at offset: Int, field: Int? = nil, line: UInt = #line) {
        do {
            _ = try AllTypes(serializedBytes: bytes)
            XCTFail("decoding succeeded; expected \(kind)", line: line)
        } catch {
            XCTAssertEqual(error.kind, kind, line: line)
            XCTAssertEqual(error.offset, offset, "offset", line: line)
            if let field { XCTAssertEqual(error.fieldNumber, field, "field", line: line) }
        }
    }

    func testTruncatedTagIsAnError() {
        assertFails([0x80], .truncated, at: 0)
    }

    func testTruncatedVarintValueIsAnError() {
        assertFails([40], .truncated, at: 1, field: 5)
        assertFails([40, 0x80, 0x80], .truncated, at: 1, field: 5)
    }

    func testLengthBeyondTheInputIsAnError() {
        assertFails([74, 5, 0x61], .truncated, at: 2, field: 9)
        assertFails([74] + varint(UInt64(Int64.max)), .invalidLength, at: 10, field: 9)
    }

    func testTruncatedFixedWidthValuesAreErrors() {
        assertFails([49, 1, 2, 3], .truncated, at: 1, field: 6)      // fixed64
        assertFails([61, 1, 2], .truncated, at: 1, field: 7)         // fixed32
        assertFails(tag(1000, 5) + [1], .truncated, at: 2, field: 1000)  // unknown fixed32
    }

    func testTruncationInsideANestedMessageIsAnError() {
        // f_message declares 4 bytes but its inner string runs past them.
        assertFails([138, 1, 4, 26, 9, 0x61, 0x62], .truncated, at: 5, field: 3)
    }

    func testVarintLongerThanTenBytesIsAnError() {
        assertFails([40] + [UInt8](repeating: 0xFF, count: 10) + [0x01], .overlongVarint, at: 1, field: 5)
    }

    func testTagThatDoesNotFit32BitsIsAnError() {
        assertFails([0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x01], .overlongVarint, at: 0)
    }

    func testWireTypesSixAndSevenAreErrors() {
        assertFails([0x2E, 0], .invalidWireType(6), at: 0, field: 5)
        assertFails([0x2F, 0], .invalidWireType(7), at: 0, field: 5)
    }

    func testFieldNumberZeroIsAnError() {
        assertFails([0x00, 1], .zeroFieldNumber, at: 0)
        assertFails([0x02, 0], .zeroFieldNumber, at: 0)
    }

    func testInvalidUTF8InStringFieldsIsAnError() {
        assertFails(lenField(9, [0xC3, 0x28]), .invalidUTF8, at: 2, field: 9)                     // singular
        assertFails(lenField(39, [0xED, 0xA0, 0x80]), .invalidUTF8, at: 3, field: 39)             // repeated, a surrogate
        assertFails(lenField(60, [0xFF]), .invalidUTF8, at: 3, field: 60)                          // oneof
        assertFails(lenField(50, lenField(1, [0xC0, 0x80])), .invalidUTF8, at: 5, field: 1)      // map key (overlong)
        assertFails(lenField(50, lenField(2, [0xF4, 0x90, 0x80, 0x80])), .invalidUTF8, at: 5, field: 2)  // map value (> U+10FFFF)
    }

    func testBytesFieldsAcceptAnyBytes() throws {
        XCTAssertEqual(try AllTypes(serializedBytes: lenField(10, [0xC3, 0x28])).fBytes, [0xC3, 0x28])
    }

    func testWrongWireTypeForAKnownFieldIsAnError() {
        assertFails(lenField(5, [1]), .wrongWireType(2), at: 0, field: 5)
        assertFails(varintField(9, 1), .wrongWireType(0), at: 0, field: 9)
        assertFails(fixed32Field(17, 1), .wrongWireType(5), at: 0, field: 17)
    }

    func testNestingDeeperThanOneHundredIsAnError() throws {
        func nested(_ depth: Int) -> [UInt8] {
            var bytes: [UInt8] = []
            for _ in 0..<depth { bytes = lenField(1, bytes) }
            return bytes
        }
        XCTAssertNoThrow(try FixturesV1.Recursive(serializedBytes: nested(100)))
        XCTAssertThrowsError(try FixturesV1.Recursive(serializedBytes: nested(101))) { error in
            XCTAssertEqual((error as? WireDecodingError)?.kind, .depthLimitExceeded(100))
        }
        // Deep unknown groups are bounded too.
        let groups = (0..<200).flatMap { _ in tag(1000, 3) } + (0..<200).flatMap { _ in tag(1000, 4) }
        XCTAssertThrowsError(try AllTypes(serializedBytes: groups))
    }

    func testEndGroupWithoutStartIsAnError() {
        assertFails(tag(1000, 4), .unmatchedEndGroup, at: 0, field: 1000)
    }

    func testMismatchedEndGroupIsAnError() {
        assertFails(tag(1000, 3) + tag(1001, 4), .unmatchedEndGroup, at: 2, field: 1001)
    }

    func testUnterminatedGroupIsAnError() {
        assertFails(tag(1000, 3) + varintField(1, 1), .truncated, at: 4)
    }

    func testErrorDescriptionNamesOffsetFieldAndProblem() {
        do {
            _ = try AllTypes(serializedBytes: lenField(9, [0xC3, 0x28]))
        } catch {
            XCTAssertEqual(error.description, "binary decode error at byte 2 (field 9): invalid UTF-8 in string field")
            return
        }
        XCTFail("expected an error")
    }
}
