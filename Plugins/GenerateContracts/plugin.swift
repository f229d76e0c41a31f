import Foundation
import PackagePlugin

/// `swift package generate-contracts`: the same as `make generate` (product contracts only).
@main
struct GenerateContracts: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let tool = try context.tool(named: "contracts")
        let root = context.package.directoryURL
        let process = Process()
        process.executableURL = tool.url
        process.currentDirectoryURL = root
        process.arguments = ["generate", "--proto-root", root.appendingPathComponent("proto").path,
                             "--out", root.appendingPathComponent("Sources/Generated").path, "--well-known", "--registry", "GeneratedTypes"] + arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            Diagnostics.error("contracts generate failed with status \(process.terminationStatus)")
            return
        }
    }
}
