import Codegen
import Foundation

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
        importModules: o.all("--import"))
    do {
        let out = try Generator.generate(request)
        try Generator.write(out, to: o.one("--out", default: "Sources/Generated"))
        print("generated \(out.count) files into \(o.one("--out", default: "Sources/Generated"))")
    } catch {
        fail("\(error)")
    }
case "help", "--help", "-h":
    print(usage)
default:
    fail("unknown command '\(command)'\n\n\(usage)")
}
