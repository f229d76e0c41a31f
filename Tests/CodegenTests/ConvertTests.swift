import Codegen
import BenchContracts
import Foundation
import Generated
import ProtoWire
import TestContracts
import XCTest

/// `contracts convert` and the dynamic codec behind it, checked against the
/// generated codecs: both must produce the same bytes and the same JSON.
final class ConvertTests: XCTestCase {
    static let contractsPool: DescriptorPool = {
        let set = try! Protoc.descriptorSet(root: Repo.path("proto"), files: try! Protoc.listProtoFiles(under: Repo.path("proto")) + Generator.standardWellKnownFiles)
        return DescriptorPool(set)
    }()
    static let fixturesPool: DescriptorPool = {
        let set = try! Protoc.descriptorSet(root: Repo.path("Tests/Fixtures/proto"), files: ["fixtures/v1/corner_cases.proto"])
        return DescriptorPool(set)
    }()

    let deterministicJSON = JSONEncodingOptions(deterministic: true)

    private func crossCheck<M: ProtoMessage>(_ message: M, pool: DescriptorPool, line: UInt = #line) throws {
        let binary = message.serializedBytes(options: .init(deterministic: true))
        var request = ConvertRequest(typeName: M.protoMessageName, from: .binary, to: .json)
        request.jsonEncoding = deterministicJSON
        let dynamicJSON = try Converter.convert(binary, request, pool: pool)
        XCTAssertEqual(String(decoding: dynamicJSON, as: UTF8.self), try message.jsonString(options: deterministicJSON), "JSON of \(M.protoMessageName)", line: line)
        request.from = .json
        request.to = .binary
        XCTAssertEqual(try Converter.convert(dynamicJSON, request, pool: pool), binary, "binary of \(M.protoMessageName)", line: line)
    }

    func testDynamicCodecAgreesWithGeneratedCodecOnGoldenVectors() throws {
        let dir = Repo.path("Tests/Fixtures/json/")
        for name in ["runtime_run", "runtime_run_event", "khala_frame", "telemetry", "paywall_policy", "revocation"] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + name + ".binpb")))
            switch name {
            case "runtime_run": try crossCheck(try RuntimeV1.RuntimeRun(serializedBytes: bytes), pool: Self.contractsPool)
            case "runtime_run_event": try crossCheck(try RuntimeV1.RuntimeRunEvent(serializedBytes: bytes), pool: Self.contractsPool)
            case "khala_frame": try crossCheck(try SyncV1.KhalaFrame(serializedBytes: bytes), pool: Self.contractsPool)
            case "telemetry": try crossCheck(try SyncV1.ClientTelemetryEvent(serializedBytes: bytes), pool: Self.contractsPool)
            case "paywall_policy": try crossCheck(try LightningV1.ControlPlanePaywallPolicy(serializedBytes: bytes), pool: Self.contractsPool)
            default: try crossCheck(try ControlV1.SessionRevocationRequest(serializedBytes: bytes), pool: Self.contractsPool)
            }
        }
        for name in ["all_types", "all_types_maps"] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + name + ".binpb")))
            try crossCheck(try FixturesV1.AllTypes(serializedBytes: bytes), pool: Self.fixturesPool)
        }
    }

    func testDynamicCodecAgreesWithGeneratedCodecOnTheBenchmarkCorpus() throws {
        try Repo.requireSharedBench()
        let set = try Protoc.descriptorSet(root: Repo.benchRoot, files: ["bench.proto"])
        let batch = try BenchV1.RunEventBatch(serializedBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: Repo.benchRoot + "/data/batch.binpb"))))
        try crossCheck(batch, pool: DescriptorPool(set))
    }

    func testEveryContractTypeConverts() throws {
        let names = Self.contractsPool.messageNames
        XCTAssertGreaterThan(names.count, 150)
        // An empty Value has no JSON form (a kind must be set), as protobuf-go rules.
        XCTAssertThrowsError(try Converter.convert([], ConvertRequest(typeName: "google.protobuf.Value", from: .binary, to: .json), pool: Self.contractsPool))
        for name in names where name != "google.protobuf.Value" {
            let request = ConvertRequest(typeName: name, from: .binary, to: .json)
            let json = try Converter.convert([], request, pool: Self.contractsPool)
            var back = request
            back.from = .json
            back.to = .binary
            XCTAssertEqual(try Converter.convert(json, back, pool: Self.contractsPool), [], name)
        }
    }

    func testBinaryToJSONToBinaryIsByteIdenticalForCanonicalInput() throws {
        var run = RuntimeV1.RuntimeRun()
        run.runId = "r"
        run.status = .succeeded
        run.latestSeq = .max
        run.metadata = try GoogleProtobuf.Struct(jsonString: #"{"a":[1,"x",null,{"b":true}]}"#)
        let binary = run.serializedBytes(options: .init(deterministic: true))
        let json = try Converter.convert(binary, ConvertRequest(typeName: "openagents.runtime.v1.RuntimeRun", from: .binary, to: .json), pool: Self.contractsPool)
        let back = try Converter.convert(json, ConvertRequest(typeName: "openagents.runtime.v1.RuntimeRun", from: .json, to: .binary), pool: Self.contractsPool)
        XCTAssertEqual(back, binary)
    }

    func testAnyIsResolvedFromTheDescriptorSet() throws {
        var any = GoogleProtobuf.Any_()
        any.typeUrl = "type.googleapis.com/openagents.runtime.v1.RuntimeRun"
        var run = RuntimeV1.RuntimeRun()
        run.runId = "inner"
        any.value = run.serializedBytes()
        let json = try Converter.convert(any.serializedBytes(), ConvertRequest(typeName: "google.protobuf.Any", from: .binary, to: .json), pool: Self.contractsPool)
        XCTAssertEqual(String(decoding: json, as: UTF8.self), #"{"@type":"type.googleapis.com/openagents.runtime.v1.RuntimeRun","runId":"inner"}"#)
        // @type may come last.
        let reordered = Array(#"{"runId":"inner","@type":"type.googleapis.com/openagents.runtime.v1.RuntimeRun"}"#.utf8)
        XCTAssertEqual(try Converter.convert(reordered, ConvertRequest(typeName: "google.protobuf.Any", from: .json, to: .binary), pool: Self.contractsPool), any.serializedBytes())
    }

    func testBadInputIsAClearError() {
        XCTAssertThrowsError(try Converter.convert(Array(#"{"runId":5}"#.utf8), ConvertRequest(typeName: "openagents.runtime.v1.RuntimeRun", from: .json, to: .binary), pool: Self.contractsPool)) { error in
            XCTAssertEqual("\(error)", "runId: expected string (at byte 9)")
        }
        XCTAssertThrowsError(try Converter.convert([0x0A, 0x05], ConvertRequest(typeName: "openagents.runtime.v1.RuntimeRun", from: .binary, to: .json), pool: Self.contractsPool)) { error in
            XCTAssertEqual("\(error)", "binary decode error at byte 2 (field 1): truncated input")
        }
        XCTAssertThrowsError(try Converter.convert([], ConvertRequest(typeName: "no.such.Type", from: .binary, to: .json), pool: Self.contractsPool)) { error in
            XCTAssertEqual("\(error)", "unknown message type no.such.Type")
        }
    }
}
