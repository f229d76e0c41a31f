import Foundation
import Generated
@testable import RuntimeCore
@testable import RuntimeService
import XCTest

/// Golden run logs (Tests/Fixtures/runs, made by make_runs.py, an independent
/// Python oracle of reference-system.md 2.4): each log either yields exactly
/// the expected receipt and REPLAY.jsonl bytes, or is rejected with the
/// expected error, in the style of Temporal's replay fixtures.
final class RunArtifactGoldenTests: XCTestCase {
    static let dir: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        return url.path + "/Fixtures/runs/"
    }()

    var cases: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: Self.dir)) ?? [])
            .filter { $0.hasSuffix(".events.jsonl") }.map { String($0.dropLast(".events.jsonl".count)) }.sorted()
    }

    func read(_ name: String) -> [UInt8]? { FileManager.default.contents(atPath: Self.dir + name).map { [UInt8]($0) } }

    /// Loads a fixture log (from a copy: recovery truncates torn tails) and builds its artifacts.
    enum Outcome {
        case success((receipt: [UInt8], replay: [UInt8]))
        case failure(String)
    }

    func outcome(_ name: String) -> Outcome {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("golden-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try? FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try? FileManager.default.copyItem(atPath: Self.dir + name + ".events.jsonl", toPath: tmp + "/log.jsonl")
        let ledger: RuntimeLedger
        do { ledger = try RuntimeLedger(path: tmp + "/log.jsonl") } catch let d as LogFile.Damage {
            return .failure("log: line \(d.line): \(d.problem)")
        } catch { return .failure("log: \(error)") }
        guard ledger.runIDs.count == 1, let state = try? ledger.run(ledger.runIDs[0]) else { return .failure("expected one run") }
        do {
            let (_, receipt) = try Artifacts.receipt(run: state.run, events: state.events)
            let replay = try Artifacts.replay(run: state.run, events: state.events)
            return .success((receipt, replay))
        } catch { return .failure("receipt: \(error)") }
    }

    func testFixturesExist() {
        XCTAssertGreaterThanOrEqual(cases.count, 8, "fixtures missing in \(Self.dir)")
    }

    func testEveryValidLogYieldsTheExpectedReceiptAndReplayBytes() throws {
        for name in cases where read(name + ".error.txt") == nil {
            let expectedReceipt = try XCTUnwrap(read(name + ".receipt.json"), name)
            let expectedReplay = try XCTUnwrap(read(name + ".replay.jsonl"), name)
            switch outcome(name) {
            case .failure(let e): XCTFail("\(name): \(e)")
            case .success(let got):
                XCTAssertEqual(String(decoding: got.receipt, as: UTF8.self), String(decoding: expectedReceipt, as: UTF8.self), name)
                XCTAssertEqual(String(decoding: got.replay, as: UTF8.self), String(decoding: expectedReplay, as: UTF8.self), name)
                XCTAssertEqual(try? ReplayValidator.validate(got.replay).get(), got.replay.filter { $0 == 0x0A }.count, name)
            }
        }
    }

    func testEveryInvalidLogIsRejectedWithTheExpectedError() throws {
        for name in cases {
            guard let expected = read(name + ".error.txt") else { continue }
            let want = String(decoding: expected, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            switch outcome(name) {
            case .success: XCTFail("\(name): accepted, expected \(want)")
            case .failure(let got): XCTAssertEqual(got, want, name)
            }
        }
    }

    func testArtifactsAreByteIdenticalAcrossRestarts() throws {
        let name = "succeeded_with_tools"
        guard case .success(let first) = outcome(name), case .success(let second) = outcome(name) else { return XCTFail("fixture failed") }
        XCTAssertEqual(first.receipt, second.receipt)
        XCTAssertEqual(first.replay, second.replay)
    }

    func testReceiptHashCoversEverythingButItself() throws {
        guard case .success(let got) = outcome("canceled_with_payments") else { return XCTFail("fixture failed") }
        let receipt = try GoogleProtobuf.Value(jsonBytes: got.receipt)
        guard case .structValue(var fields)? = receipt.kind, case .stringValue(let hash)? = fields.fields["canonical_json_sha256"]?.kind else { return XCTFail("no hash") }
        fields.fields["canonical_json_sha256"] = nil
        XCTAssertEqual(SHA256.hex(CanonicalJSON.bytes(JSONValue.value(.structValue(fields)))), hash)
        XCTAssertFalse(hash.hasPrefix("sha256:"), "canonical_json_sha256 is bare hex")
    }
}
