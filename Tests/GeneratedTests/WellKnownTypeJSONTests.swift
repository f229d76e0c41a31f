import Generated
import ProtoWire
import TestContracts
import XCTest

/// The special JSON forms of the well-known types, one test per rule.
final class WellKnownTypeJSONTests: XCTestCase {
    typealias Timestamp = GoogleProtobuf.Timestamp
    typealias Duration = GoogleProtobuf.Duration

    func ts(_ seconds: Int64, _ nanos: Int32 = 0) -> Timestamp {
        var t = Timestamp()
        t.seconds = seconds
        t.nanos = nanos
        return t
    }

    func testTimestampIsRFC3339InUTCWithZeroThreeSixOrNineFractionDigits() throws {
        XCTAssertEqual(try ts(0).jsonString(), #""1970-01-01T00:00:00Z""#)
        XCTAssertEqual(try ts(1, 10_000_000).jsonString(), #""1970-01-01T00:00:01.010Z""#)
        XCTAssertEqual(try ts(1, 10_000).jsonString(), #""1970-01-01T00:00:01.000010Z""#)
        XCTAssertEqual(try ts(1, 10).jsonString(), #""1970-01-01T00:00:01.000000010Z""#)
        XCTAssertEqual(try ts(-62_135_596_800).jsonString(), #""0001-01-01T00:00:00Z""#)
        XCTAssertEqual(try ts(253_402_300_799, 999_999_999).jsonString(), #""9999-12-31T23:59:59.999999999Z""#)
    }

    func testTimestampOutOfRangeIsAnEncodeError() {
        XCTAssertThrowsError(try ts(253_402_300_800).jsonString())
        XCTAssertThrowsError(try ts(-62_135_596_801).jsonString())
        XCTAssertThrowsError(try ts(0, -1).jsonString())
        XCTAssertThrowsError(try ts(0, 1_000_000_000).jsonString())
    }

    func testTimestampOffsetsAreAcceptedAndNormalised() throws {
        XCTAssertEqual(try Timestamp(jsonString: #""1970-01-01T01:00:00+01:00""#), ts(0))
        XCTAssertEqual(try Timestamp(jsonString: #""1969-12-31T23:30:00-00:30""#), ts(0))
        XCTAssertEqual(try Timestamp(jsonString: #""2026-03-01T00:30:00+01:00""#), try Timestamp(jsonString: #""2026-02-28T23:30:00Z""#))
        XCTAssertEqual(try Timestamp(jsonString: #""1970-01-01T00:00:00.5Z""#), ts(0, 500_000_000))
    }

    func testTimestampCalendarAndSyntaxAreValidated() {
        for bad in ["2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-04-31T00:00:00Z", "2024-01-01T24:00:00Z",
                    "2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z", "2024-01-01t00:00:00Z", "2024-01-01T00:00:00z",
                    "2024-01-01T00:00:00", "2024-01-01T00:00:00+0100", "224-01-01T00:00:00Z", "2024-1-01T00:00:00Z",
                    "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567890Z", "0000-12-31T23:59:59Z", "9999-12-31T23:59:59-01:00"] {
            XCTAssertThrowsError(try Timestamp(jsonString: "\"\(bad)\""), bad)
        }
        XCTAssertNoThrow(try Timestamp(jsonString: #""2024-02-29T00:00:00Z""#))
        XCTAssertNoThrow(try Timestamp(jsonString: #""2000-02-29T00:00:00Z""#))
        XCTAssertThrowsError(try Timestamp(jsonString: #""1900-02-29T00:00:00Z""#))
    }

    func testDurationIsSecondsWithSuffixAndSign() throws {
        func d(_ s: Int64, _ n: Int32) -> Duration { var x = Duration(); x.seconds = s; x.nanos = n; return x }
        XCTAssertEqual(try d(1, 500_000_000).jsonString(), #""1.500s""#)
        XCTAssertEqual(try d(-1, -500_000_000).jsonString(), #""-1.500s""#)
        XCTAssertEqual(try d(0, -500_000_000).jsonString(), #""-0.500s""#)
        XCTAssertEqual(try d(3, 0).jsonString(), #""3s""#)
        XCTAssertEqual(try Duration(jsonString: #""1.5s""#), d(1, 500_000_000))
        XCTAssertEqual(try Duration(jsonString: #""-0.000000001s""#), d(0, -1))
        XCTAssertThrowsError(try Duration(jsonString: #""1.5""#))
        XCTAssertThrowsError(try Duration(jsonString: #""315576000001s""#))
        XCTAssertThrowsError(try d(1, -1).jsonString())  // signs disagree
        XCTAssertThrowsError(try d(315_576_000_001, 0).jsonString())
    }

    func testFieldMaskIsOneCommaJoinedLowerCamelString() throws {
        var m = GoogleProtobuf.FieldMask()
        m.paths = ["foo_bar.baz_qux", "a"]
        XCTAssertEqual(try m.jsonString(), #""fooBar.bazQux,a""#)
        XCTAssertEqual(try GoogleProtobuf.FieldMask(jsonString: #""fooBar.bazQux,a""#), m)
        XCTAssertEqual(try GoogleProtobuf.FieldMask(jsonString: #""""#).paths, [])
        m.paths = ["Foo"]
        XCTAssertThrowsError(try m.jsonString())
        m.paths = ["foo__bar"]
        XCTAssertThrowsError(try m.jsonString())
        XCTAssertThrowsError(try GoogleProtobuf.FieldMask(jsonString: #""foo_bar""#))
    }

    func testStructValueAndListValueAreAnyJSON() throws {
        let text = #"{"a":[1.5,"s",true,null,{"b":{}}],"c":-2.0}"#
        let s = try GoogleProtobuf.Struct(jsonString: text)
        XCTAssertEqual(try s.jsonString(options: .init(deterministic: true)), text)
        let v = try GoogleProtobuf.Value(jsonString: "null")
        XCTAssertEqual(v.kind, .nullValue(.nullValue))
        XCTAssertEqual(try GoogleProtobuf.ListValue(jsonString: "[1,[2]]").values.count, 2)
    }

    func testValueWithoutAKindOrWithANonFiniteNumberHasNoJSONForm() {
        XCTAssertThrowsError(try GoogleProtobuf.Value().jsonString())
        var v = GoogleProtobuf.Value()
        v.kind = .numberValue(.nan)
        XCTAssertThrowsError(try v.jsonString())
    }

    func testWrappersAreTheBareValue() throws {
        var i = GoogleProtobuf.Int64Value()
        i.value = 5
        XCTAssertEqual(try i.jsonString(), #""5""#)
        XCTAssertEqual(try GoogleProtobuf.Int64Value(jsonString: "7").value, 7)
        var b = GoogleProtobuf.BytesValue()
        b.value = [1]
        XCTAssertEqual(try b.jsonString(), #""AQ==""#)
        var s = GoogleProtobuf.StringValue()
        s.value = ""
        XCTAssertEqual(try s.jsonString(), #""""#)
        XCTAssertEqual(try GoogleProtobuf.BoolValue(jsonString: "false").value, false)
    }

    func testEmptyIsAnEmptyObject() throws {
        XCTAssertEqual(try GoogleProtobuf.Empty().jsonString(), "{}")
        XCTAssertNoThrow(try GoogleProtobuf.Empty(jsonString: "{}"))
    }

    func testAnyUsesTheGeneratedTypeRegistry() throws {
        var run = RuntimeV1.RuntimeRun()
        run.runId = "r"
        var any = GoogleProtobuf.Any_()
        any.typeUrl = "type.googleapis.com/openagents.runtime.v1.RuntimeRun"
        any.value = run.serializedBytes()
        let enc = JSONEncodingOptions(typeRegistry: GeneratedTypes.registry)
        let dec = JSONDecodingOptions(typeRegistry: GeneratedTypes.registry)
        let json = try any.jsonString(options: enc)
        XCTAssertEqual(json, #"{"@type":"type.googleapis.com/openagents.runtime.v1.RuntimeRun","runId":"r"}"#)
        XCTAssertEqual(try GoogleProtobuf.Any_(jsonString: #"{"runId":"r","@type":"type.googleapis.com/openagents.runtime.v1.RuntimeRun"}"#, options: dec), any)
        // Well-known payloads go under "value".
        var d = GoogleProtobuf.Duration()
        d.seconds = 2
        any.typeUrl = "type.googleapis.com/google.protobuf.Duration"
        any.value = d.serializedBytes()
        XCTAssertEqual(try any.jsonString(options: enc), #"{"@type":"type.googleapis.com/google.protobuf.Duration","value":"2s"}"#)
        XCTAssertEqual(try GoogleProtobuf.Any_(jsonString: #"{"value":"2s","@type":"type.googleapis.com/google.protobuf.Duration"}"#, options: dec), any)
        XCTAssertEqual(try GoogleProtobuf.Any_().jsonString(options: enc), "{}")
    }

    func testAnyWithAnUnknownTypeIsAClearError() {
        XCTAssertThrowsError(try GoogleProtobuf.Any_(jsonString: #"{"@type":"type.googleapis.com/no.Such"}"#, options: .init(typeRegistry: GeneratedTypes.registry))) { error in
            XCTAssertEqual((error as? JSONDecodingError)?.message, #"Any: type "type.googleapis.com/no.Such" is not in the type registry"#)
        }
        XCTAssertThrowsError(try GoogleProtobuf.Any_(jsonString: #"{"a":1}"#, options: .init(typeRegistry: GeneratedTypes.registry)))
    }
}
