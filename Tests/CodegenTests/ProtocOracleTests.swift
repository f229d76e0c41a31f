import Codegen
import BenchContracts
import Foundation
import Generated
import ProtoWire
import TestContracts
import XCTest

/// The binary format checked against protoc as the oracle: protoc encodes a
/// text-format sample, we decode and re-encode it and must produce the same
/// bytes; protoc must decode what we encode to the same text.
final class ProtocOracleTests: XCTestCase {
    private let contractIncludes = ["-I", Repo.path("proto"), "-I", "/usr/include"]
    private let benchIncludes = ["-I", Repo.benchRoot, "-I", "/usr/include"]

    private func assertAgreesWithProtoc<M: ProtoMessage>(_ type: M.Type, file protoFile: String, includes: [String], text: String, line: UInt = #line) throws {
        let name = M.protoMessageName
        let fromProtoc = try protoc(includes + ["--encode=\(name)", protoFile], stdin: Array(text.utf8))
        XCTAssertFalse(fromProtoc.isEmpty, "protoc produced no bytes for \(name)", line: line)
        let decoded = try M(serializedBytes: fromProtoc)
        let ours = decoded.serializedBytes(options: .init(deterministic: true))
        XCTAssertEqual(ours, fromProtoc, "re-encoding \(name) differs from protoc's bytes", line: line)
        let textOfOurs = try protoc(includes + ["--decode=\(name)", protoFile], stdin: ours)
        let textOfTheirs = try protoc(includes + ["--decode=\(name)", protoFile], stdin: fromProtoc)
        XCTAssertEqual(String(decoding: textOfOurs, as: UTF8.self), String(decoding: textOfTheirs, as: UTF8.self), line: line)
        // Decoding our own bytes gives the same message back.
        XCTAssertEqual(try M(serializedBytes: ours), decoded, line: line)
    }

    func testBenchRunEventMatchesProtoc() throws {
        try Repo.requireSharedBench()
        try assertAgreesWithProtoc(BenchV1.RunEvent.self, file: "bench.proto", includes: benchIncludes, text: #"""
            run_id: "run-\303\251-\344\270\255\346\226\207"
            seq: 18446744073709551615
            kind: EVENT_KIND_TOOL_CALL
            occurred_at { seconds: 1735689600 nanos: 123456789 }
            idempotency_key: "k\"\\\n\t"
            attributes { key: "a" value: "b" }
            attributes { key: "z" value: "\360\237\231\202" }
            tool_call {
              tool_call_id: "tc1"
              name: "search"
              arguments {
                fields { key: "flag" value { bool_value: true } }
                fields { key: "list" value { list_value { values { number_value: 1.5 } values { null_value: NULL_VALUE } values { struct_value { fields { key: "n" value { number_value: -1099511627776 } } } } } } }
                fields { key: "q" value { string_value: "x" } }
              }
              latency_ms: -0.0
            }
            token_counts: [-1, 9223372036854775807, -9223372036854775808, 0, 2147483648]
            payload_digest: "\000\001\377"
            expected_previous_seq: 0
            drift: -2147483648
            trace_id_lo: 18446744073709551615
            replayed: true
            """#)
    }

    func testBenchBatchWithTextDeltaAndStatusChangeMatchesProtoc() throws {
        try Repo.requireSharedBench()
        try assertAgreesWithProtoc(BenchV1.RunEventBatch.self, file: "bench.proto", includes: benchIncludes, text: """
            events { run_id: "r1" seq: 1 kind: EVENT_KIND_TEXT_DELTA text_delta { delta: "hello" index: 7 } drift: 5 }
            events { run_id: "r1" seq: 2 kind: EVENT_KIND_STATUS_CHANGE status_change { from_status: "running" to_status: "succeeded" } }
            events { }
            """)
    }

    func testRuntimeRunEventMatchesProtoc() throws {
        try assertAgreesWithProtoc(RuntimeV1.RuntimeRunEvent.self, file: "openagents/runtime/v1/orchestration.proto", includes: contractIncludes, text: """
            run_id: "run_123" seq: 42 event_type: "tool.result"
            emitted_at { seconds: -62135596800 nanos: 0 }
            tool_result { tool_call_id: "t" tool_name: "grep" state: "ok" reason_code: REASON_CODE_SSRF_BLOCK_PRIVATE_ADDRESS output { fields { key: "k" value { string_value: "v" } } } }
            payload_json { struct_value { fields { key: "a" value { number_value: 1 } } } }
            idempotency_key: "idem-1"
            """)
    }

    func testRuntimeRunMatchesProtoc() throws {
        try assertAgreesWithProtoc(RuntimeV1.RuntimeRun.self, file: "openagents/runtime/v1/orchestration.proto", includes: contractIncludes, text: """
            run_id: "r" thread_id: "t" status: RUNTIME_RUN_STATUS_CANCELING owner_user_ref: "user_1" latest_seq: 300
            terminal_at { seconds: 253402300799 nanos: 999999999 } updated_at { seconds: 1 }
            metadata { fields { key: "policy_bundle_id" value { string_value: "runtime.default" } } }
            worker_id: "w"
            """)
    }

    func testKhalaFrameBytesMatchProtoc() throws {
        try assertAgreesWithProtoc(SyncV1.KhalaFrame.self, file: "openagents/sync/v1/sync.proto", includes: contractIncludes, text: #"""
            topic: "run:1:events" seq: 9 kind: KHALA_FRAME_KIND_UPDATE_BATCH payload_bytes: "{\"a\":1}\000\377" schema_version: 1
            """#)
    }

    func testOneofMemberAtDefaultValueIsWritten() throws {
        try assertAgreesWithProtoc(ControlV1.SessionRevocationRequest.self, file: "openagents/control/v1/auth.proto", includes: contractIncludes, text: """
            revoke_all_sessions: false reason: SESSION_REVOCATION_REASON_TOKEN_REPLAY include_current: true request_id: "req"
            """)
    }

    func testProto3OptionalAtZeroIsWritten() throws {
        try assertAgreesWithProtoc(LightningV1.ControlPlanePaywallPolicy.self, file: "openagents/lightning/v1/control_plane.proto", includes: contractIncludes, text: """
            paywall_id: "p" max_per_request_msats: 0 allowed_hosts: "a.example" allowed_hosts: "b.example" quota_per_day: 0 created_at_ms: -5
            """)
    }

    func testClientTelemetryOneofMatchesProtoc() throws {
        try assertAgreesWithProtoc(SyncV1.ClientTelemetryEvent.self, file: "openagents/sync/v1/client_telemetry.proto", includes: contractIncludes, text: """
            schema_version: "openagents.sync.client_telemetry.v1" occurred_at_unix_ms: -1 surface: CLIENT_SURFACE_IOS
            replay { status: "stale_cursor" requested_after_seq: 3 oldest_available_seq: 10 head_seq: 20 }
            """)
    }

    func testAllScalarTypesMatchProtoc() throws {
        try assertAgreesWithProtoc(FixturesV1.AllTypes.self, file: "fixtures/v1/corner_cases.proto", includes: ["-I", Repo.path("Tests/Fixtures/proto"), "-I", "/usr/include"], text: #"""
            f_double: 1.5 f_float: -2.25 f_int64: -9223372036854775808 f_uint64: 18446744073709551615 f_int32: -1
            f_fixed64: 1 f_fixed32: 4294967295 f_bool: true f_string: "\303\251" f_bytes: "\000" f_uint32: 4294967295
            f_sfixed32: -2147483648 f_sfixed64: -1 f_sint32: -2147483648 f_sint64: -9223372036854775808 f_enum: COLOR_GREEN
            f_message { a: -3 b: [1, -1, 300] c: "x" }
            o_int32: 0 o_string: "" o_enum: COLOR_UNSPECIFIED o_double: -0.0
            r_double: [0, -0.0, 1e300] r_float: [1, 2] r_int64: [-1, 1] r_uint64: [18446744073709551615] r_int32: [-2147483648, 2147483647]
            r_fixed64: [1, 2] r_fixed32: [3] r_bool: [true, false, true] r_string: ["a", "", "b"] r_bytes: ["\001", ""]
            r_uint32: [0, 4294967295] r_sfixed32: [-1] r_sfixed64: [-1] r_sint32: [-1, 1] r_sint64: [-1, 1] r_enum: [COLOR_RED, COLOR_UNSPECIFIED]
            r_message { a: 1 } r_message { } r_unpacked: [1, -1, 2]
            m_string { key: "" value: "" } m_string { key: "k" value: "v" }
            m_message { key: -1 value { a: 1 } } m_message { key: 2 value { } }
            m_enum { key: false value: COLOR_RED } m_enum { key: true value: COLOR_GREEN }
            m_bytes { key: -5 value: "\377" } m_double { key: 7 value: -0.5 } m_sint { key: -3 value: -3 } m_fixed { key: 9 value: true }
            c_message { a: 5 }
            f_struct { fields { key: "s" value { string_value: "t" } } }
            f_timestamp { seconds: 1 nanos: 1 }
            f_aliased: ALIASED_UNO
            """#)
    }

    /// The whole benchmark corpus: protoc prints our re-encoding exactly as it
    /// prints the original (text format sorts map entries, so the map order
    /// of the two encodings does not matter).
    func testBenchmarkCorpusRoundTripsThroughProtoc() throws {
        try Repo.requireSharedBench()
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Repo.benchRoot + "/data/batch.binpb")))
        let batch = try BenchV1.RunEventBatch(serializedBytes: bytes)
        XCTAssertEqual(batch.events.count, 1000)
        let ours = batch.serializedBytes()
        XCTAssertEqual(ours.count, bytes.count)
        let a = try protoc(benchIncludes + ["--decode=bench.v1.RunEventBatch", "bench.proto"], stdin: ours)
        let b = try protoc(benchIncludes + ["--decode=bench.v1.RunEventBatch", "bench.proto"], stdin: bytes)
        XCTAssertEqual(a, b)
        XCTAssertEqual(try BenchV1.RunEventBatch(serializedBytes: ours), batch)
    }
}
