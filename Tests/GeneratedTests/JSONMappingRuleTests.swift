import BenchContracts
import Generated
import ProtoWire
import TestContracts
import XCTest

/// One test per proto3 JSON mapping rule (protobuf-reference.md section 3).
final class JSONMappingRuleTests: XCTestCase {
    typealias AllTypes = FixturesV1.AllTypes

    func decode(_ json: String, _ options: JSONDecodingOptions = .init()) throws -> AllTypes {
        try AllTypes(jsonString: json, options: options)
    }

    func assertRejects(_ json: String, _ fragment: String, path: String? = nil, line: UInt = #line) {
        do {
            _ = try decode(json)
            XCTFail("accepted \(json)", line: line)
        } catch let error as JSONDecodingError {
            XCTAssertTrue(error.message.contains(fragment), "\(error)", line: line)
            if let path { XCTAssertEqual(error.path, path, line: line) }
        } catch {
            XCTFail("unexpected error \(error)", line: line)
        }
    }

    func encode(_ m: AllTypes, _ options: JSONEncodingOptions = .init()) throws -> String { try m.jsonString(options: options) }

    // MARK: Names

    func testOutputUsesLowerCamelCaseJSONNames() throws {
        var m = AllTypes()
        m.fInt32 = 1
        XCTAssertEqual(try encode(m), #"{"fInt32":1}"#)
    }

    func testPinnedJSONNameIsUsedOnOutput() throws {
        var p = SyncV1.KhalaPollResponse()
        p.nextCursor = 5
        XCTAssertEqual(try p.jsonString(), #"{"next_cursor":"5"}"#)
    }

    func testInputAcceptsJSONNameAndProtoName() throws {
        XCTAssertEqual(try decode(#"{"fInt32":1}"#).fInt32, 1)
        XCTAssertEqual(try decode(#"{"f_int32":2}"#).fInt32, 2)
    }

    func testPreserveProtoFieldNamesOption() throws {
        var m = AllTypes()
        m.fInt32 = 1
        XCTAssertEqual(try encode(m, .init(preserveProtoFieldNames: true)), #"{"f_int32":1}"#)
    }

    func testDuplicateKeysAreRejectedByEitherName() {
        assertRejects(#"{"fInt32":1,"fInt32":2}"#, "duplicate field")
        assertRejects(#"{"fInt32":1,"f_int32":2}"#, "duplicate field")
    }

    func testUnknownFieldsAreAnErrorByDefault() {
        assertRejects(#"{"nope":1}"#, "unknown field \"nope\"")
    }

    func testIgnoreUnknownFieldsOptionSkipsAnyValue() throws {
        let m = try decode(#"{"a":{"b":[1,{"c":null}]},"fInt32":3,"z":"s","t":true}"#, .init(ignoreUnknownFields: true))
        XCTAssertEqual(m.fInt32, 3)
    }

    // MARK: Integers

    func testSixtyFourBitIntegersAreWrittenAsStrings() throws {
        var m = AllTypes()
        m.fInt64 = -1
        m.fUint64 = .max
        XCTAssertEqual(try encode(m), #"{"fInt64":"-1","fUint64":"18446744073709551615"}"#)
    }

    func testInt64AsNumbersOption() throws {
        var m = AllTypes()
        m.fInt64 = -1
        XCTAssertEqual(try encode(m, .init(int64AsNumbers: true)), #"{"fInt64":-1}"#)
    }

    func testIntegersAreAcceptedAsNumbersOrStrings() throws {
        XCTAssertEqual(try decode(#"{"fInt64":"9223372036854775807"}"#).fInt64, .max)
        XCTAssertEqual(try decode(#"{"fInt64":-9223372036854775808}"#).fInt64, .min)
        XCTAssertEqual(try decode(#"{"fInt32":"-5"}"#).fInt32, -5)
        XCTAssertEqual(try decode(#"{"fUint64":18446744073709551615}"#).fUint64, .max)
    }

    func testIntegralExponentAndFractionFormsAreAccepted() throws {
        XCTAssertEqual(try decode(#"{"fInt32":1e5}"#).fInt32, 100000)
        XCTAssertEqual(try decode(#"{"fInt64":"1e5"}"#).fInt64, 100000)
        XCTAssertEqual(try decode(#"{"fInt32":100000.000}"#).fInt32, 100000)
        XCTAssertEqual(try decode(#"{"fInt32":2.147483647e9}"#).fInt32, .max)
    }

    func testNonIntegralAndOutOfRangeIntegersAreRejected() {
        assertRejects(#"{"fInt32":0.5}"#, "expected an integer")
        assertRejects(#"{"fInt64":"0.5"}"#, "expected an integer")
        assertRejects(#"{"fInt32":2147483648}"#, "out of range for int32")
        assertRejects(#"{"fUint32":-1}"#, "out of range for uint32")
        assertRejects(#"{"fUint64":18446744073709551616}"#, "expected an integer")
        assertRejects(#"{"fInt32":01}"#, "invalid number")
        assertRejects(#"{"fInt32":"+1"}"#, "invalid number")
        assertRejects(#"{"fInt32":" 1"}"#, "invalid number")
        assertRejects(#"{"fInt32":""}"#, "invalid number")
    }

    // MARK: Floating point

    func testNonFiniteFloatsAreStrings() throws {
        var m = AllTypes()
        m.rDouble = [.nan, .infinity, -.infinity]
        XCTAssertEqual(try encode(m), #"{"rDouble":["NaN","Infinity","-Infinity"]}"#)
        let back = try decode(#"{"rDouble":["NaN","Infinity","-Infinity","1.5",2]}"#)
        XCTAssertTrue(back.rDouble[0].isNaN)
        XCTAssertEqual(Array(back.rDouble[1...]), [.infinity, -.infinity, 1.5, 2])
    }

    func testNegativeZeroIsWrittenAndKeepsItsSign() throws {
        var m = AllTypes()
        m.fDouble = -0.0
        XCTAssertEqual(try encode(m), #"{"fDouble":-0.0}"#)
        XCTAssertEqual(try decode(#"{"fDouble":-0}"#).fDouble.sign, .minus)
    }

    func testOutOfRangeFloatsAreRejected() {
        assertRejects(#"{"fFloat":3.502823e+38}"#, "out of range for float")
        assertRejects(#"{"fDouble":1.89769e+308}"#, "out of range for double")
        assertRejects(#"{"fDouble":NaN}"#, "expected number")
        assertRejects(#"{"fDouble":"1.5x"}"#, "invalid number")
    }

    // MARK: bool, string, bytes

    func testBoolAcceptsOnlyLiterals() throws {
        XCTAssertEqual(try decode(#"{"fBool":true}"#).fBool, true)
        assertRejects(#"{"fBool":"true"}"#, "expected true or false")
        assertRejects(#"{"fBool":1}"#, "expected true or false")
    }

    func testStringEscapesAndSurrogatePairsDecode() throws {
        XCTAssertEqual(try decode(#"{"fString":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude42\u0000"}"#).fString, "a\"\\/\u{8}\u{C}\n\r\té🙂\u{0}")
    }

    func testLoneSurrogatesAndInvalidEscapesAreRejected() {
        assertRejects(#"{"fString":"\ud83d"}"#, "unpaired surrogate")
        assertRejects(#"{"fString":"\ude42"}"#, "unpaired surrogate")
        assertRejects(#"{"fString":"\x"}"#, "invalid escape")
    }

    func testInvalidUTF8IsRejected() throws {
        let bytes: [UInt8] = Array(#"{"fString":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        XCTAssertThrowsError(try AllTypes(jsonBytes: bytes)) { error in
            XCTAssertTrue((error as? JSONDecodingError)?.message.contains("invalid UTF-8") ?? false)
        }
    }

    func testControlCharactersAreEscapedOnOutput() throws {
        var m = AllTypes()
        m.fString = "\u{1}\n\"\\"
        XCTAssertEqual(try encode(m), #"{"fString":"\u0001\n\"\\"}"#)
    }

    func testBytesAreStandardBase64OnOutputAndAnyBase64OnInput() throws {
        var m = AllTypes()
        m.fBytes = [0xFB, 0xFF]
        XCTAssertEqual(try encode(m), #"{"fBytes":"+/8="}"#)
        XCTAssertEqual(try decode(#"{"fBytes":"+/8="}"#).fBytes, [0xFB, 0xFF])
        XCTAssertEqual(try decode(#"{"fBytes":"-_8"}"#).fBytes, [0xFB, 0xFF])
        assertRejects(#"{"fBytes":"!!"}"#, "invalid base64")
    }

    // MARK: Enums

    func testEnumsAreNamesOnOutputAndNumbersWhenUnknown() throws {
        var m = AllTypes()
        m.fEnum = .green
        m.rEnum = [.unrecognized(123)]
        XCTAssertEqual(try encode(m), #"{"fEnum":"COLOR_GREEN","rEnum":[123]}"#)
        XCTAssertEqual(try encode(m, .init(enumsAsNumbers: true)), #"{"fEnum":2,"rEnum":[123]}"#)
    }

    func testEnumsAreAcceptedByNameNumberOrAlias() throws {
        XCTAssertEqual(try decode(#"{"fEnum":"COLOR_RED"}"#).fEnum, .red)
        XCTAssertEqual(try decode(#"{"fEnum":2}"#).fEnum, .green)
        XCTAssertEqual(try decode(#"{"fAliased":"ALIASED_UNO"}"#).fAliased, .one)
        assertRejects(#"{"fEnum":"color_red"}"#, "unknown enum value")
    }

    func testUnknownEnumNamesAreDroppedWithIgnoreUnknownFields() throws {
        let m = try decode(#"{"fEnum":"NOPE","rEnum":["COLOR_RED","NOPE"],"mEnum":{"true":"NOPE","false":"COLOR_RED"}}"#, .init(ignoreUnknownFields: true))
        XCTAssertEqual(m.fEnum, .unspecified)
        XCTAssertEqual(m.rEnum, [.red])
        XCTAssertEqual(m.mEnum, [false: .red])
    }

    // MARK: null

    func testNullClearsAField() throws {
        let m = try decode(#"{"fInt32":null,"fMessage":null,"rInt32":null,"mString":null,"oInt32":null,"fTimestamp":null}"#)
        XCTAssertEqual(m, AllTypes())
    }

    func testNullIsAValueInsideGoogleProtobufValue() throws {
        var s = GoogleProtobuf.Struct()
        s = try GoogleProtobuf.Struct(jsonString: #"{"a":null}"#)
        XCTAssertEqual(s.fields["a"]?.kind, .nullValue(.nullValue))
        XCTAssertEqual(try s.jsonString(), #"{"a":null}"#)
    }

    func testNullInsideArraysAndAsMapValuesIsRejected() {
        assertRejects(#"{"rInt32":[1,null]}"#, "null is not allowed in an array", path: "rInt32[1]")
        assertRejects(#"{"mString":{"k":null}}"#, "null is not allowed as a map value")
    }

    func testTopLevelNullIsRejected() {
        assertRejects("null", "expected object")
    }

    // MARK: Oneofs

    func testNullDoesNotSetAOneof() throws {
        XCTAssertEqual(try decode(#"{"cInt64":null,"cString":"x"}"#).choice, .cString("x"))
    }

    func testSettingAOneofTwiceIsRejected() {
        assertRejects(#"{"cInt64":"1","cString":"x"}"#, "oneof is already set")
    }

    func testOneofMembersAtZeroAreWritten() throws {
        var m = AllTypes()
        m.choice = .cInt64(0)
        XCTAssertEqual(try encode(m), #"{"cInt64":"0"}"#)
    }

    // MARK: Presence and defaults

    func testDefaultsAreOmittedAndPresenceFieldsWrittenEvenAtZero() throws {
        var m = AllTypes()
        m.oInt32 = 0
        m.fMessage = .init()
        XCTAssertEqual(try encode(m), #"{"fMessage":{},"oInt32":0}"#)
    }

    func testEmitDefaultValuesOptionWritesFieldsWithoutPresence() throws {
        let json = try FixturesV1.AllTypes.Nested().jsonString(options: .init(emitDefaultValues: true))
        XCTAssertEqual(json, #"{"a":0,"b":[],"c":""}"#)
    }

    // MARK: Maps

    func testMapKeysAreQuotedStrings() throws {
        var m = AllTypes()
        m.mEnum = [true: .red]
        m.mSint = [-3: 1]
        XCTAssertEqual(try encode(m, .init(deterministic: true)), #"{"mEnum":{"true":"COLOR_RED"},"mSint":{"-3":1}}"#)
        let back = try decode(#"{"mMessage":{"-1":{"a":1}},"mFixed":{"7":true},"mBytes":{"9223372036854775807":"AA=="}}"#)
        XCTAssertEqual(back.mMessage[-1]?.a, 1)
        XCTAssertEqual(back.mFixed, [7: true])
        XCTAssertEqual(back.mBytes, [.max: [0]])
    }

    func testBadMapKeysAndDuplicateMapKeysAreRejected() {
        assertRejects(#"{"mEnum":{"yes":"COLOR_RED"}}"#, "invalid bool map key")
        assertRejects(#"{"mSint":{"1.5":1}}"#, "invalid integer map key")
        assertRejects(#"{"mString":{"a":"1","a":"2"}}"#, "duplicate map key")
    }

    // MARK: Syntax and limits

    func testMalformedJSONIsRejected() {
        assertRejects(#"{"fInt32":1,}"#, "expected a quoted member name")
        assertRejects(#"{fInt32:1}"#, "expected a quoted member name")
        assertRejects(#"{"fInt32":1 "fBool":true}"#, "expected ',' or '}'")
        assertRejects(#"{"fInt32":1} x"#, "unexpected data")
        assertRejects(#"{'fInt32':1}"#, "expected a quoted member name")
    }

    func testNestingDeeperThanOneHundredIsRejected() throws {
        let deep = String(repeating: #"{"a":"#, count: 120) + "1" + String(repeating: "}", count: 120)
        XCTAssertThrowsError(try GoogleProtobuf.Struct(jsonString: deep)) { error in
            XCTAssertTrue((error as? JSONDecodingError)?.message.contains("nesting deeper than 100") ?? false)
        }
        let ok = String(repeating: #"{"a":"#, count: 25) + "1" + String(repeating: "}", count: 25)
        XCTAssertNoThrow(try GoogleProtobuf.Struct(jsonString: ok))
    }

    func testErrorsNameTheJSONPathAndOffset() throws {
        let json = #"{"events":[{},{},{},{"toolCall":{"arguments":5}}]}"#
        do {
            _ = try BenchV1.RunEventBatch(jsonString: json)
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.path, "events[3].toolCall.arguments")
            XCTAssertEqual(error.message, "expected object")
            XCTAssertEqual(error.offset, json.utf8.count - 5)
            XCTAssertEqual(error.description, "events[3].toolCall.arguments: expected object (at byte \(json.utf8.count - 5))")
        }
    }

    func testPrettyPrintIndentsTwoSpaces() throws {
        var m = AllTypes()
        m.fInt32 = 1
        m.rInt32 = [1, 2]
        XCTAssertEqual(try encode(m, .init(prettyPrint: true)), "{\n  \"fInt32\": 1,\n  \"rInt32\": [\n    1,\n    2\n  ]\n}")
    }
}
