// CodecBench: our generated codecs on the fixed corpus of ../shared/bench,
// timed exactly as the anchor (pb-anchor) times swift-protobuf, with the same
// output lines, so the two can be compared side by side in one run.
//
// Usage: CodecBench [DATA_DIR]   (default ../shared/bench/data)
// Env:   BENCH_SECONDS  minimum timed seconds per benchmark (default 1.5)

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import BenchContracts
import Generated
import ProtoWire

typealias Batch = BenchV1.RunEventBatch

@inline(__always)
func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("CodecBench: " + message + "\n").utf8))
    exit(1)
}

func load(_ path: String) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)") }
    return [UInt8](data)
}

/// Same schedule as the anchor: warm-up of at least 3 iterations and 0.3 s,
/// then iterations until `minSeconds` have passed; prints mean time per batch.
/// BENCH_ITERATIONS=N: run each operation exactly N times, untimed (for
/// instruction counts under callgrind, which the noise of wall time cannot give).
let fixedIterations = ProcessInfo.processInfo.environment["BENCH_ITERATIONS"].flatMap(Int.init)

@inline(never)
func measure(_ name: String, bytes: Int, minSeconds: Double, _ body: () throws -> Int) rethrows -> Int {
    var sink = 0
    if let n = fixedIterations {
        for _ in 0..<n { sink &+= try body() }
        print("# \(name) ran \(n) iterations")
        return sink
    }
    let w0 = nowNs()
    var warm = 0
    while warm < 3 || nowNs() &- w0 < 300_000_000 {
        sink &+= try body()
        warm += 1
    }
    let minNs = UInt64(minSeconds * 1e9)
    var iters = 0
    let start = nowNs()
    var elapsed: UInt64 = 0
    repeat {
        sink &+= try body()
        iters += 1
        elapsed = nowNs() &- start
    } while elapsed < minNs
    let ns = Double(elapsed) / Double(iters)
    let mbps = Double(bytes) / ns * 1e3
    print("bench \(name) \(Int(ns.rounded())) ns/batch \(String(format: "%.1f", mbps)) MB/s")
    print("# \(name) iterations=\(iters) elapsed_ns=\(elapsed)")
    return sink
}

let args = CommandLine.arguments
let dataDir = args.count > 1 ? args[1] : "../shared/bench/data"
let minSeconds = ProcessInfo.processInfo.environment["BENCH_SECONDS"].flatMap(Double.init) ?? 1.5
/// BENCH_ONLY=name[,name] runs a subset (for profiling one operation).
let only = ProcessInfo.processInfo.environment["BENCH_ONLY"].map { Set($0.split(separator: ",").map(String.init)) }
func selected(_ name: String) -> Bool { only?.contains(name) ?? true }
let binary = load(dataDir + "/batch.binpb")

// Correctness once, before timing: decode, count, and a byte-identical round trip.
let fromBinary: Batch
do { fromBinary = try Batch(serializedBytes: binary) } catch { fail("decode failed: \(error)") }
guard fromBinary.events.count == 1000 else { fail("expected 1000 events, got \(fromBinary.events.count)") }
let reBinary = fromBinary.serializedBytes()
guard (try? Batch(serializedBytes: reBinary)) == fromBinary else { fail("binary round trip mismatch") }
let json = load(dataDir + "/batch.json")
let fromJSON: Batch
do { fromJSON = try Batch(jsonBytes: json) } catch { fail("JSON decode failed: \(error)") }
guard fromJSON == fromBinary else { fail("binary and JSON corpora decode to different messages") }
let reJSON: [UInt8]
do { reJSON = try fromBinary.jsonBytes() } catch { fail("JSON encode failed: \(error)") }
guard (try? Batch(jsonBytes: reJSON)) == fromBinary else { fail("JSON round trip mismatch") }
print("# openagents codecs events=\(fromBinary.events.count) binary_bytes=\(binary.count) json_bytes=\(json.count)")
print("# roundtrip ok; re-encoded sizes: binary=\(reBinary.count) (identical=\(reBinary == binary)) json=\(reJSON.count) (identical=\(reJSON == json))")

var sink = 0
if selected("binary-decode") {
sink &+= try measure("binary-decode", bytes: binary.count, minSeconds: minSeconds) {
    try Batch(serializedBytes: binary).events.count
}
}
if selected("binary-encode") {
sink &+= measure("binary-encode", bytes: binary.count, minSeconds: minSeconds) {
    fromBinary.serializedBytes().count
}
}
if selected("json-decode") {
sink &+= try measure("json-decode", bytes: json.count, minSeconds: minSeconds) {
    try Batch(jsonBytes: json).events.count
}
}
if selected("json-encode") {
sink &+= try measure("json-encode", bytes: json.count, minSeconds: minSeconds) {
    try fromBinary.jsonBytes().count
}
}
print("# sink \(sink)")
