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
    /// When set, also emit `_registry.pb.swift` declaring `public enum <name>` with every message type.
    public var registryName: String?
    /// More import roots (for example `proto`, so fixtures can import google/api and our options).
    public var includes: [String] = []

    public init(protoRoot: String, files: [String]? = nil, wellKnownFiles: [String] = [], stripPackagePrefixes: [String] = ["openagents"], importModules: [String] = [], registryName: String? = nil) {
        self.registryName = registryName
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
        let set = try Protoc.descriptorSet(root: request.protoRoot, files: sources + request.wellKnownFiles, includes: request.includes)
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
        // HTTP bindings are resolved and linted for every service first: one bad
        // binding anywhere and nothing is written.
        var planner = BindingPlanner(index: index)
        var rpcPlanner = JSONRPCPlanner(index: index)
        var services: [String: [ServicePlan]] = [:]
        var rpcServices: [String: [JSONRPCServicePlan]] = [:]
        for file in emitted where !file.services.isEmpty {
            services[file.name] = planner.plan(file: file)
            rpcServices[file.name] = rpcPlanner.plan(file: file)
        }
        let findings = planner.findings + rpcPlanner.findings
        if !findings.isEmpty { throw GeneratorError.badBindings(findings) }
        var result: [String: String] = [:]
        for file in emitted {
            var options = EmitOptions(stripPackagePrefixes: request.stripPackagePrefixes, importModules: request.importModules)
            if firstOfPackage[file.package] == file.name { options.declaresNamespaces = [file.package] }
            let plans = services[file.name] ?? []
            let rpcPlans = rpcServices[file.name] ?? []
            if !plans.isEmpty || !rpcPlans.isEmpty { options.importModules.append("APIRuntime") }
            var emitter = SwiftEmitter(file: file, index: index, options: options)
            var text = emitter.emit()
            let ns = Naming.namespace(forPackage: file.package, stripping: request.stripPackagePrefixes)
            for plan in plans {
                var writer = OpenAPIWriter(plan: plan, index: index)
                let document = writer.document()
                result["OpenAPI/\(plan.fullName).openapi.json"] = document
                var se = ServiceEmitter(plan: plan, index: index, namespace: ns, openAPI: document)
                text += se.emit()
            }
            for plan in rpcPlans {
                var writer = OpenRPCWriter(plan: plan, index: index, files: set.files)
                let document = writer.document()
                result["OpenRPC/\(plan.fullName).openrpc.json"] = document
                var je = JSONRPCEmitter(plan: plan, index: index, namespace: ns, openRPC: document)
                text += je.emit()
            }
            result[SwiftEmitter.outputName(for: file.name)] = text
        }
        if let name = request.registryName {
            result["_registry.pb.swift"] = registry(name: name, files: emitted, index: index, importModules: request.importModules)
        }
        return result
    }

    /// Every message type of the emitted files, for `google.protobuf.Any` and `convert`-style lookups.
    static func registry(name: String, files: [FileDescriptor], index: TypeIndex, importModules: [String]) -> String {
        var names: [String] = []
        func collect(_ m: MessageDescriptor, _ proto: String) {
            if m.isMapEntry { return }
            names.append(index.swiftName(proto))
            for n in m.nested { collect(n, proto + "." + n.name) }
        }
        for f in files {
            for m in f.messages { collect(m, (f.package.isEmpty ? "" : "." + f.package) + "." + m.name) }
        }
        var out = "// DO NOT EDIT. Generated by `contracts generate`: every message type of this module.\n"
        out += "// Regenerate with `make generate`; a test fails when this file is stale.\n\n"
        out += "import ProtoWire\n"
        for m in importModules.sorted() { out += "import \(m)\n" }
        out += "\n/// Every generated message type, and a registry of them for `google.protobuf.Any` in JSON.\n"
        out += "public enum \(name) {\n"
        out += "    public static let messageTypes: [any ProtoMessage.Type] = [\n"
        for n in names { out += "        \(n).self,\n" }
        out += "    ]\n\n"
        out += "    public static let registry = TypeRegistry(messageTypes)\n"
        out += "}\n"
        return out
    }

    /// Writes the generated files into `directory`, removing stale `.pb.swift`
    /// files and stale OpenAPI documents.
    public static func write(_ files: [String: String], to directory: String) throws {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for existing in try fm.contentsOfDirectory(atPath: directory) where existing.hasSuffix(".pb.swift") && files[existing] == nil {
            try fm.removeItem(atPath: directory + "/" + existing)
        }
        let openAPI = directory + "/OpenAPI"
        for existing in (try? fm.contentsOfDirectory(atPath: openAPI)) ?? [] where existing.hasSuffix(".openapi.json") && files["OpenAPI/" + existing] == nil {
            try fm.removeItem(atPath: openAPI + "/" + existing)
        }
        let openRPC = directory + "/OpenRPC"
        for existing in (try? fm.contentsOfDirectory(atPath: openRPC)) ?? [] where existing.hasSuffix(".openrpc.json") && files["OpenRPC/" + existing] == nil {
            try fm.removeItem(atPath: openRPC + "/" + existing)
        }
        for (name, text) in files.sorted(by: { $0.key < $1.key }) {
            let path = directory + "/" + name
            if name.contains("/") { try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true) }
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
    case badBindings([BindingFinding])

    public var description: String {
        switch self {
        case .protocFailed(let s): return "protoc failed: \(s)"
        case .protocMissing(let s): return s
        case .unsupported(let s): return s
        case .badDescriptorSet(let e): return "cannot read descriptor set: \(e)"
        case .badBindings(let findings): return "HTTP bindings rejected:\n" + findings.map { "  " + $0.description }.joined(separator: "\n")
        }
    }
}
