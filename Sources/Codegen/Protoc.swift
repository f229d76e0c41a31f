import Foundation
import ProtoWire

/// Runs Debian's `protoc` to turn .proto files into a FileDescriptorSet.
public enum Protoc {
    /// Where the well-known .proto files live (libprotobuf-dev installs them in /usr/include).
    public static func wellKnownIncludeDir() throws -> String {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["PROTOC_INCLUDE"] { candidates.append(env) }
        candidates += ["/usr/include", "/usr/local/include", "/opt/homebrew/include"]
        for dir in candidates where FileManager.default.fileExists(atPath: dir + "/google/protobuf/descriptor.proto") {
            return dir
        }
        throw GeneratorError.protocMissing("well-known .proto files not found (install libprotobuf-dev or set PROTOC_INCLUDE)")
    }

    public static func executable() throws -> String {
        if let env = ProcessInfo.processInfo.environment["PROTOC"] { return env }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = String(dir) + "/protoc"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw GeneratorError.protocMissing("protoc not found on PATH (install protobuf-compiler)")
    }

    /// Every .proto file below `root`, relative to it, sorted.
    public static func listProtoFiles(under root: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var out: [String] = []
        while let item = walker.nextObject() as? String {
            if item.hasSuffix(".proto") { out.append(item) }
        }
        return out.sorted()
    }

    /// Raw descriptor-set bytes for `files` (relative to `root`), with imports and source info.
    public static func descriptorSetBytes(root: String, files: [String], includeSourceInfo: Bool = true, includes: [String] = []) throws -> [UInt8] {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("contracts-\(UUID().uuidString).binpb")
        defer { try? FileManager.default.removeItem(at: tmp) }
        var args = ["-I", root] + includes.flatMap { ["-I", $0] } + ["-I", try wellKnownIncludeDir(), "--descriptor_set_out=\(tmp.path)", "--include_imports"]
        if includeSourceInfo { args.append("--include_source_info") }
        args += files
        let result = try run(try executable(), args)
        guard result.status == 0 else { throw GeneratorError.protocFailed(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return [UInt8](try Data(contentsOf: tmp))
    }

    public static func descriptorSet(root: String, files: [String], includes: [String] = []) throws -> FileDescriptorSet {
        let bytes = try descriptorSetBytes(root: root, files: files, includes: includes)
        return try decode(bytes)
    }

    public static func decode(_ bytes: [UInt8]) throws -> FileDescriptorSet {
        do { return try FileDescriptorSet(serializedBytes: bytes) } catch { throw GeneratorError.badDescriptorSet(error) }
    }

    public struct ProcessResult: Sendable {
        public var status: Int32
        public var stdout: [UInt8]
        public var stderr: String
    }

    /// Runs a program to completion, feeding `stdin` and collecting both outputs.
    public static func run(_ program: String, _ arguments: [String], stdin: [UInt8] = []) throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let errPipe = Pipe(), outPipe = Pipe(), inPipe = Pipe()
        process.standardError = errPipe
        process.standardOutput = outPipe
        process.standardInput = inPipe
        try process.run()
        // Drain both pipes while stdin is written, so no side blocks on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        DispatchQueue.global().async(group: group) { outData = outPipe.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = errPipe.fileHandleForReading.readDataToEndOfFile() }
        if !stdin.isEmpty { inPipe.fileHandleForWriting.write(Data(stdin)) }
        try? inPipe.fileHandleForWriting.close()
        process.waitUntilExit()
        group.wait()
        return ProcessResult(status: process.terminationStatus, stdout: [UInt8](outData), stderr: String(decoding: errData, as: UTF8.self))
    }
}
