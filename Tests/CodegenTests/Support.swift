import Codegen
import Foundation
import XCTest

/// Paths of this checkout, found from this file's location.
enum Repo {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    static func path(_ relative: String) -> String { root + "/" + relative }
    /// The shared benchmark contract, beside the checkout (as CI lays it out).
    static let benchRoot = path("../shared/bench")

    /// Skips a test that needs ../shared/bench when the checkout has no shared/ beside it.
    static func requireSharedBench() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: benchRoot + "/bench.proto"),
                          "../shared/bench is not beside this checkout")
    }
}

/// Runs protoc with the given arguments and stdin; fails the test on a non-zero exit.
func protoc(_ args: [String], stdin: [UInt8], file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
    let result = try Protoc.run(try Protoc.executable(), args, stdin: stdin)
    if result.status != 0 {
        XCTFail("protoc \(args.joined(separator: " ")) failed: \(result.stderr)", file: file, line: line)
    }
    return result.stdout
}
