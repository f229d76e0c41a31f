import Codegen
import Foundation
import ProtoWire

// `contracts`: the generator's command line. Thin: parsing and wiring only.

let usage = """
usage: contracts <command> [options]

commands:
  generate   write Swift types and codecs for .proto files
             --proto-root DIR      root of the .proto tree (default: proto)
             --out DIR             output directory (default: Sources/Generated)
             --file PATH           a file to emit, relative to the root (repeatable; default: all)
             --well-known          also emit the standard well-known types
             --import MODULE       module providing types not emitted here (repeatable)
             --strip-prefix PKG    package prefix dropped from namespaces (default: openagents)
             --registry NAME       also emit _registry.pb.swift: enum NAME listing every message type
             --include DIR         another import root (repeatable)
  convert    binary <-> proto3 JSON for one message, stdin to stdout
             --type NAME           fully qualified message type (e.g. openagents.runtime.v1.RuntimeRun)
             --from binary|json    input format
             --to binary|json      output format
             --descriptor-set FILE any FileDescriptorSet (default: compile --proto-root and the well-known types)
             --proto-root DIR      (default: proto)
             JSON output: --emit-defaults --proto-names --enums-as-numbers --int64-as-numbers --pretty
             JSON input:  --ignore-unknown
  lint       buf lint rules over the module in buf.yaml (default: ./buf.yaml)
             --config FILE         buf.yaml (v1 or v2)
             --baseline FILE       descriptor set for the frozen-namespace rule (default: proto/baseline/contracts.binpb when present)
             --error-format text|json
  breaking   buf breaking rules: the module against a previous state
             --against INPUT       descriptor set file, directory of .proto files, or git ref (.git#branch=main, .git#ref=SHA)
             --config FILE         buf.yaml (v1 or v2)
             --error-format text|json
  baseline   write the descriptor-set baseline of the module (refuses while v1 packages have breaking changes)
             --out FILE            (default: proto/baseline/contracts.binpb)
  Exit status of lint/breaking: 0 clean, 100 findings, 1 usage or input error.
  help       this text
"""

func fail(_ message: String, code: Int32 = 1) -> Never {
    FileHandle.standardError.write(Data("contracts: \(message)\n".utf8))
    exit(code)
}

var args = Array(CommandLine.arguments.dropFirst())
guard let command = args.first else { print(usage); exit(1) }
args.removeFirst()

/// Pulls `--name value` pairs and flags out of an argument list.
struct Options {
    var values: [String: [String]] = [:]
    var flags: Set<String> = []
    init(_ args: [String], flags known: Set<String>) {
        var i = 0
        while i < args.count {
            let a = args[i]
            guard a.hasPrefix("--") else { fail("unexpected argument '\(a)'\n\n\(usage)") }
            if known.contains(a) { flags.insert(a); i += 1; continue }
            guard i + 1 < args.count else { fail("\(a) needs a value") }
            values[a, default: []].append(args[i + 1])
            i += 2
        }
    }
    func one(_ name: String, default d: String) -> String { values[name]?.last ?? d }
    func all(_ name: String) -> [String] { values[name] ?? [] }
}

switch command {
case "generate":
    let o = Options(args, flags: ["--well-known"])
    let files = o.all("--file")
    let strip = o.all("--strip-prefix")
    let request = GenerateRequest(
        protoRoot: o.one("--proto-root", default: "proto"),
        files: files.isEmpty ? nil : files,
        wellKnownFiles: o.flags.contains("--well-known") ? Generator.standardWellKnownFiles : [],
        stripPackagePrefixes: strip.isEmpty ? ["openagents"] : strip,
        importModules: o.all("--import"),
        registryName: o.values["--registry"]?.last)
    var withIncludes = request
    withIncludes.includes = o.all("--include")
    let generateRequest = withIncludes
    do {
        let out = try Generator.generate(generateRequest)
        try Generator.write(out, to: o.one("--out", default: "Sources/Generated"))
        print("generated \(out.count) files into \(o.one("--out", default: "Sources/Generated"))")
    } catch {
        fail("\(error)")
    }
case "convert":
    let o = Options(args, flags: ["--emit-defaults", "--proto-names", "--enums-as-numbers", "--int64-as-numbers", "--pretty", "--ignore-unknown"])
    guard let type = o.values["--type"]?.last else { fail("convert needs --type") }
    guard let from = ConvertRequest.Format(rawValue: o.one("--from", default: "")) else { fail("--from must be binary or json") }
    guard let to = ConvertRequest.Format(rawValue: o.one("--to", default: "")) else { fail("--to must be binary or json") }
    var request = ConvertRequest(typeName: type, from: from, to: to, descriptorSet: o.values["--descriptor-set"]?.last)
    request.protoRoot = o.one("--proto-root", default: "proto")
    request.jsonEncoding = JSONEncodingOptions(
        emitDefaultValues: o.flags.contains("--emit-defaults"), preserveProtoFieldNames: o.flags.contains("--proto-names"),
        enumsAsNumbers: o.flags.contains("--enums-as-numbers"), int64AsNumbers: o.flags.contains("--int64-as-numbers"),
        prettyPrint: o.flags.contains("--pretty"), deterministic: true)
    request.jsonDecoding = JSONDecodingOptions(ignoreUnknownFields: o.flags.contains("--ignore-unknown"))
    do {
        let pool = try Converter.pool(for: request)
        let input = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        var output = try Converter.convert(input, request, pool: pool)
        if to == .json && o.flags.contains("--pretty") { output.append(0x0A) }
        FileHandle.standardOutput.write(Data(output))
    } catch {
        fail("\(error)")
    }
case "lint", "breaking", "baseline":
    let o = Options(args, flags: [])
    let configPath = o.one("--config", default: "buf.yaml")
    let json: Bool
    switch o.one("--error-format", default: "text") {
    case "text": json = false
    case "json": json = true
    default: fail("--error-format must be text or json")
    }
    do {
        let config = FileManager.default.fileExists(atPath: configPath) ? try BufConfig.load(configPath) : BufConfig.defaults
        let configDir = (configPath as NSString).deletingLastPathComponent
        let moduleRoot = configDir.isEmpty ? config.modulePath : configDir + "/" + config.modulePath
        let defaultBaseline = moduleRoot + "/" + Baseline.relativePath
        let findings: [Finding]
        switch command {
        case "lint":
            let baseline = o.values["--baseline"]?.last ?? (FileManager.default.fileExists(atPath: defaultBaseline) ? defaultBaseline : nil)
            findings = try Checks.lint(moduleRoot: moduleRoot, config: config, baselinePath: baseline, extraRules: baseline == nil ? [] : ["OPENAGENTS_PROTOCOL_V1_FROZEN"])
        case "breaking":
            guard let against = o.values["--against"]?.last else { fail("breaking needs --against") }
            findings = try Checks.breaking(moduleRoot: moduleRoot, against: against, config: config)
        default:
            let out = o.one("--out", default: defaultBaseline)
            findings = try Baseline.write(moduleRoot: moduleRoot, to: out, config: config)
            if findings.isEmpty { print("wrote \(out)") }
        }
        FileHandle.standardOutput.write(Data(Checks.format(findings, json: json).utf8))
        exit(Checks.exitCode(findings))
    } catch {
        fail("\(error)")
    }
case "help", "--help", "-h":
    print(usage)
default:
    fail("unknown command '\(command)'\n\n\(usage)")
}
