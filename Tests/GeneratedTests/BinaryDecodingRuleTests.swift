import ProtoWire
import TestContracts
import XCTest

/// One test per decoding/encoding rule of the binary format
/// (protobuf-reference.md section 4), on hand-made bytes.
/// Field numbers are those of fixtures/v1/corner_cases.proto.
final class BinaryDecodingRuleTests: XCTestCase {
    typealias AllTypes = FixturesV1.AllTypes

    func testEmptyInputIsTheDefaultMessage() throws {
        XCTAssertEqual(try AllTypes(serializedBytes: []), AllTypes())
        XCTAssertEqual(AllTypes().serializedBytes(), [])
    }

    func testPackedAndUnpackedRepeatedFieldsAreBothAccepted() throws {
        let bytes = lenField(35, [1, 2]) + varintField(35, 3) + lenField(35, []) + lenField(35, [4])
        XCTAssertEqual(try AllTypes(serializedBytes: bytes).rInt32, [1, 2, 3, 4])
        // And for a field declared [packed = false].
        let unpacked = lenField(48, [5, 6]) + varintField(48, 7)
        XCTAssertEqual(try AllTypes(serializedBytes: unpacked).rUnpacked, [5, 6, 7])
    }

    func testRepeatedScalarsAreWrittenPacked() {
        var m = AllTypes()
        m.rInt32 = [1, 2]
        XCTAssertEqual(m.serializedBytes(), lenField(35, [1, 2]))
    }

    func testPackedFalseFieldsAreWrittenOnePerTag() {
        var m = AllTypes()
        m.rUnpacked = [1, 2]
        XCTAssertEqual(m.serializedBytes(), varintField(48, 1) + varintField(48, 2))
    }

    func testLastValueWinsForRepeatedScalarOccurrences() throws {
        let bytes = varintField(5, 1) + stringField(9, "a") + varintField(5, 2) + stringField(9, "b")
        let m = try AllTypes(serializedBytes: bytes)
        XCTAssertEqual(m.fInt32, 2)
        XCTAssertEqual(m.fString, "b")
    }

    func testLastMemberWinsForOneofs() throws {
        let m = try AllTypes(serializedBytes: stringField(60, "a") + varintField(62, 5))
        XCTAssertEqual(m.choice, .cInt64(5))
        let back = try AllTypes(serializedBytes: varintField(62, 5) + stringField(60, "z"))
        XCTAssertEqual(back.choice, .cString("z"))
    }

    func testRepeatedOccurrencesOfTheSameOneofMessageMemberMerge() throws {
        let bytes = lenField(61, varintField(1, 1)) + lenField(61, stringField(3, "x"))
        guard case .cMessage(let nested)? = try AllTypes(serializedBytes: bytes).choice else { return XCTFail("expected cMessage") }
        XCTAssertEqual(nested.a, 1)
        XCTAssertEqual(nested.c, "x")
    }

    func testRepeatedOccurrencesOfAnEmbeddedMessageMerge() throws {
        let first = varintField(1, 1) + varintField(2, 1)
        let second = varintField(2, 2) + stringField(3, "z")
        let m = try AllTypes(serializedBytes: lenField(17, first) + lenField(17, second))
        XCTAssertEqual(m.fMessage?.a, 1)
        XCTAssertEqual(m.fMessage?.b, [1, 2])
        XCTAssertEqual(m.fMessage?.c, "z")
    }

    func testUnknownFieldsArePreservedByteForByteInArrivalOrder() throws {
        // Unknown fields of every wire type, one number with two wire types, interleaved with a known field.
        let unknown1 = varintField(1000, 300) + lenField(1001, [9, 9]) + fixed32Field(1002, 7)
        let unknown2 = fixed64Field(1003, 1) + stringField(1000, "same number, other type")
        let m = try AllTypes(serializedBytes: unknown1 + varintField(5, 1) + unknown2)
        XCTAssertEqual(m.unknownFields.bytes, unknown1 + unknown2)
        // Re-emitted after the known fields, unchanged.
        XCTAssertEqual(m.serializedBytes(), varintField(5, 1) + unknown1 + unknown2)
    }

    func testUnknownGroupsAreSkippedAndKept() throws {
        let group = tag(1000, 3) + varintField(1, 5) + tag(1001, 3) + fixed32Field(2, 1) + tag(1001, 4) + tag(1000, 4)
        let m = try AllTypes(serializedBytes: group + varintField(5, 9))
        XCTAssertEqual(m.fInt32, 9)
        XCTAssertEqual(m.unknownFields.bytes, group)
    }

    func testDiscardUnknownFieldsOptionDropsThem() throws {
        let m = try AllTypes(serializedBytes: varintField(1000, 1) + varintField(5, 2), options: .init(discardUnknownFields: true))
        XCTAssertTrue(m.unknownFields.isEmpty)
        XCTAssertEqual(m.fInt32, 2)
    }

    func testNegativeInt32IsWrittenAsTenByteVarint() {
        var m = AllTypes()
        m.fInt32 = -1
        XCTAssertEqual(m.serializedBytes(), [40] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    func testInt32FieldsKeepTheLow32BitsOfA64BitVarint() throws {
        XCTAssertEqual(try AllTypes(serializedBytes: varintField(5, UInt64(Int64.max))).fInt32, -1)
        XCTAssertEqual(try AllTypes(serializedBytes: varintField(5, 1 << 33)).fInt32, 0)
        XCTAssertEqual(try AllTypes(serializedBytes: varintField(11, (1 << 32) + 7)).fUint32, 7)
    }

    func testSInt32FieldGivenA64BitZigZagValueTruncates() throws {
        // zz64(Int32.max + 2) = 0x1_0000_0002; its low 32 bits are zz32(1).
        let zz = UInt64(bitPattern: (Int64(Int32.max) + 2) << 1)
        XCTAssertEqual(try AllTypes(serializedBytes: varintField(14, zz)).fSint32, 1)
    }

    func testBoolIsTrueForAnyNonZeroVarintAndWrittenAsOne() throws {
        let m = try AllTypes(serializedBytes: varintField(8, 1 << 40))
        XCTAssertTrue(m.fBool)
        XCTAssertEqual(m.serializedBytes(), varintField(8, 1))
    }

    func testOverlongVarintsAreAcceptedAndRewrittenMinimally() throws {
        let m = try AllTypes(serializedBytes: [40, 0x81, 0x80, 0x80, 0x80, 0x00])
        XCTAssertEqual(m.fInt32, 1)
        XCTAssertEqual(m.serializedBytes(), [40, 1])
    }

    func testNegativeZeroIsNotTheDefaultAndIsWritten() throws {
        var m = AllTypes()
        m.fDouble = -0.0
        let bytes = m.serializedBytes()
        XCTAssertEqual(bytes, fixed64Field(1, (-0.0 as Double).bitPattern))
        XCTAssertEqual(try AllTypes(serializedBytes: bytes).fDouble.sign, .minus)
    }

    func testUnknownEnumNumbersAreKeptInTheField() throws {
        let m = try AllTypes(serializedBytes: varintField(16, 99))
        XCTAssertEqual(m.fEnum, .unrecognized(99))
        XCTAssertEqual(m.serializedBytes(), varintField(16, 99))
    }

    func testEnumAliasesNameTheSameValue() {
        XCTAssertEqual(FixturesV1.Aliased.uno, .one)
        XCTAssertEqual(FixturesV1.Aliased.uno.rawValue, 1)
    }

    func testMapEntryWithMissingKeyOrValueUsesDefaults() throws {
        let m = try AllTypes(serializedBytes: lenField(50, stringField(2, "v")) + lenField(51, varintField(1, 3)))
        XCTAssertEqual(m.mString, ["": "v"])
        XCTAssertEqual(m.mMessage, [3: FixturesV1.AllTypes.Nested()])
    }

    func testMapEntryFieldsInAnyOrderAndDuplicateKeysLastWins() throws {
        let e1 = stringField(2, "first") + stringField(1, "k")
        let e2 = stringField(1, "k") + stringField(2, "second")
        XCTAssertEqual(try AllTypes(serializedBytes: lenField(50, e1) + lenField(50, e2)).mString, ["k": "second"])
        // A key repeated inside one entry: last one wins too.
        let e3 = stringField(1, "a") + stringField(1, "b") + stringField(2, "v")
        XCTAssertEqual(try AllTypes(serializedBytes: lenField(50, e3)).mString, ["b": "v"])
    }

    func testDeterministicEncodingSortsMapEntriesByKey() {
        var m = AllTypes()
        for k in ["d", "b", "a", "c"] { m.mString[k] = k.uppercased() }
        m.mEnum = [true: .red, false: .green]
        let entries = ["a", "b", "c", "d"].flatMap { lenField(50, stringField(1, $0) + stringField(2, $0.uppercased())) }
        let bools = lenField(52, varintField(1, 0) + varintField(2, 2)) + lenField(52, varintField(1, 1) + varintField(2, 1))
        XCTAssertEqual(m.serializedBytes(options: .init(deterministic: true)), entries + bools)
    }

    func testFieldsAreWrittenInFieldNumberOrder() {
        var m = AllTypes()
        m.fString = "s"
        m.fInt32 = 1
        m.fDouble = 1
        m.oInt32 = 0
        XCTAssertEqual(m.serializedBytes(), fixed64Field(1, (1.0 as Double).bitPattern) + varintField(5, 1) + stringField(9, "s") + varintField(20, 0))
    }

    func testSelfRecursiveAndMutuallyRecursiveMessagesRoundTrip() throws {
        var r = FixturesV1.Recursive()
        for depth in 1...50 {
            var parent = FixturesV1.Recursive()
            parent.depth = Int32(depth)
            // Each level holds the level below once: through the boxed field or the indirect oneof.
            if depth.isMultiple(of: 2) {
                parent.node = .left(r)
            } else {
                parent.child = r
                parent.node = .leaf("d\(depth)")
            }
            r = parent
        }
        XCTAssertEqual(try FixturesV1.Recursive(serializedBytes: r.serializedBytes()), r)
        var a = FixturesV1.MutualA()
        a.name = "outer"
        var b = FixturesV1.MutualB()
        b.value = 7
        b.a = FixturesV1.MutualA()
        a.b = b
        XCTAssertEqual(try FixturesV1.MutualA(serializedBytes: a.serializedBytes()), a)
        // Value semantics survive the heap box: changing a copy leaves the original alone.
        var copy = a
        copy.b?.value = 8
        XCTAssertEqual(a.b?.value, 7)
    }

    func testKeywordNamedFieldsRoundTrip() throws {
        var k = FixturesV1.Keywords()
        k.default = "d"
        k.class = 1
        k.protocol = true
        k.self_ = "s"
        k.unknownFields_ = "u"
        k.init_ = "i"
        k.switch = .case("c")
        k.kind = .for
        XCTAssertEqual(try FixturesV1.Keywords(serializedBytes: k.serializedBytes()), k)
    }
}

final class EnumValueTests: XCTestCase {
    func testEnumValuesCompareByNumber() {
        XCTAssertEqual(FixturesV1.Color.unrecognized(2), .green)
        XCTAssertEqual(Set([FixturesV1.Color.unrecognized(1), .red]).count, 1)
        XCTAssertNotEqual(FixturesV1.Color.unrecognized(3), .green)
    }
}
