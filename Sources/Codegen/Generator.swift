import Foundation
import ProtoWire

/// What `contracts generate` does, as a library function so the freshness
/// test can run exactly the same code.
public struct GenerateRequest: Sendable {
    /// Root of the .proto tree (`proto`).
    public var protoRoot: String
    /// Files to emit, relative to `protoRoot`; nil means every .proto below it.
    public var files: [String]?
    /// Well-known type files to emit too (e.g. `google/protobuf/timestamp.proto`).
    public var wellKnownFiles: [String] = []
    /// Package prefixes dropped from namespace names.
    public var stripPackagePrefixes: [String] = ["openagents"]
    /// Modules that provide the types this output does not declare.
    public var importModules: [String] = []

    public init(protoRoot: String, files: [String]? = nil, wellKnownFiles: [String] = [], stripPackagePrefixes: [String] = ["openagents"], importModules: [String] = []) {
        self.protoRoot = protoRoot
        self.files = files
        self.wellKnownFiles = wellKnownFiles
        self.stripPackagePrefixes = stripPackagePrefixes
        self.importModules = importModules
    }
}

public enum Generator {
    /// The well-known types the product module carries.
    public static let standardWellKnownFiles = [
        "google/protobuf/any.proto", "google/protobuf/duration.proto", "google/protobuf/empty.proto",
        "google/protobuf/field_mask.proto", "google/protobuf/struct.proto", "google/protobuf/timestamp.proto",
        "google/protobuf/wrappers.proto",
    ]

    /// Output file name -> contents.
    public static func generate(_ request: GenerateRequest) throws -> [String: String] {
        let sources = try request.files ?? Protoc.listProtoFiles(under: request.protoRoot)
        let set = try Protoc.descriptorSet(root: request.protoRoot, files: sources + request.wellKnownFiles)
        let emitSet = Set(sources + request.wellKnownFiles)
        let index = TypeIndex(files: set.files, stripping: request.stripPackagePrefixes)
        for file in set.files where emitSet.contains(file.name) {
            guard file.syntax == "proto3" else {
                throw GeneratorError.unsupported("\(file.name): only proto3 files are supported (syntax is \"\(file.syntax)\")")
            }
        }
        let emitted = set.files.filter { emitSet.contains($0.name) }.sorted { $0.name < $1.name }
        // The namespace enum of a package is declared in its first file, by name.
        var firstOfPackage: [String: String] = [:]
        for f in emitted where firstOfPackage[f.package] == nil { firstOfPackage[f.package] = f.name }
        var result: [String: String] = [:]
        for file in emitted {
            var options = EmitOptions(stripPackagePrefixes: request.stripPackagePrefixes, importModules: request.importModules)
            if firstOfPackage[file.package] == file.name { options.declaresNamespaces = [file.package] }
            var emitter = SwiftEmitter(file: file, index: index, options: options)
            result[SwiftEmitter.outputName(for: file.name)] = emitter.emit()
        }
        return result
    }

    /// Writes the generated files into `directory`, removing stale `.pb.swift` files.
    public static func write(_ files: [String: String], to directory: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for existing in try fm.contentsOfDirectory(atPath: directory) where existing.hasSuffix(".pb.swift") && files[existing] == nil {
            try fm.removeItem(atPath: directory + "/" + existing)
        }
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let path = directory + "/" + name
            if let current = fm.contents(atPath: path), current == Data(text.utf8) { continue }
            try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    }
}

public enum GeneratorError: Error, CustomStringConvertible {
    case protocFailed(String)
    case protocMissing(String)
    case unsupported(String)
    case badDescriptorSet(WireDecodingError)

    public var description: String {
        switch self {
        case .protocFailed(let s): return "protoc failed: \(s)"
        case .protocMissing(let s): return s
        case .unsupported(let s): return s
        case .badDescriptorSet(let e): return "cannot read descriptor set: \(e)"
        }
    }
}
