import BenchContracts
import Foundation
import Generated
import ProtoWire
import TestContracts
import XCTest

/// JSON golden vectors made by a reference implementation (Python protobuf's
/// json_format; Tests/Fixtures/json/make_vectors.py): our encoder's output
/// parses back to an equal message, our decoder reads the reference JSON to
/// an equal message, and where the canonical form is unique the text matches.
final class JSONGoldenVectorTests: XCTestCase {
    struct Vector: Decodable { let name: String; let type: String; let exact: Bool }

    static let dir: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        return url.path + "/Fixtures/json/"
    }()

    static let types: [String: any ProtoMessage.Type] = [
        RuntimeV1.RuntimeRun.protoMessageName: RuntimeV1.RuntimeRun.self,
        RuntimeV1.RuntimeRunEvent.protoMessageName: RuntimeV1.RuntimeRunEvent.self,
        SyncV1.KhalaFrame.protoMessageName: SyncV1.KhalaFrame.self,
        SyncV1.ClientTelemetryEvent.protoMessageName: SyncV1.ClientTelemetryEvent.self,
        LightningV1.ControlPlanePaywallPolicy.protoMessageName: LightningV1.ControlPlanePaywallPolicy.self,
        ControlV1.SessionRevocationRequest.protoMessageName: ControlV1.SessionRevocationRequest.self,
        FixturesV1.AllTypes.protoMessageName: FixturesV1.AllTypes.self,
    ]

    func check<M: ProtoMessage>(_ type: M.Type, _ v: Vector) throws {
        let binary = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.dir + v.name + ".binpb")))
        let reference = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.dir + v.name + ".json")))
        let expected = try M(serializedBytes: binary)
        XCTAssertEqual(try M(jsonBytes: reference), expected, "\(v.name): decoding the reference JSON")
        let ours = try expected.jsonBytes()
        XCTAssertEqual(try M(jsonBytes: ours), expected, "\(v.name): our JSON parses back")
        if v.exact {
            XCTAssertEqual(String(decoding: ours, as: UTF8.self), String(decoding: reference, as: UTF8.self), "\(v.name): canonical text")
        }
    }

    func testEveryGoldenVectorRoundTrips() throws {
        let manifest = try JSONDecoder().decode([Vector].self, from: Data(contentsOf: URL(fileURLWithPath: Self.dir + "vectors.json")))
        XCTAssertGreaterThanOrEqual(manifest.count, 8)
        for v in manifest {
            guard let type = Self.types[v.type] else { XCTFail("no type for \(v.type)"); continue }
            try check(type, v)
        }
    }

    func testBenchmarkCorpusJSONDecodesToTheBinaryCorpus() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path + "/../shared/bench/data/"
        try XCTSkipUnless(FileManager.default.fileExists(atPath: root + "batch.json"), "../shared/bench is not beside this checkout")
        let binary = try BenchV1.RunEventBatch(serializedBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "batch.binpb"))))
        let json = try BenchV1.RunEventBatch(jsonBytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: root + "batch.json"))))
        XCTAssertEqual(json, binary)
        XCTAssertEqual(try BenchV1.RunEventBatch(jsonBytes: try binary.jsonBytes()), binary)
    }
}
