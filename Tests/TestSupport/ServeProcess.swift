import Foundation

/// The real `openagents` binary for tests that run the product itself
/// (kill -9, start-up refusals): where `swift test` built it, and `serve`
/// started on a free port and waited for until `/healthz` answers.
public enum ServeProcess {
    public struct NotStarted: Error, CustomStringConvertible {
        public let description: String
    }

    /// swift test builds every product next to the test runner (.build/<config>/).
    public static var binary: String {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [runner, Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()].map { $0.appendingPathComponent("openagents").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    public static var isBuilt: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    /// `openagents serve --only <service>` on a random free port (another one
    /// if that port turns out taken), once `/healthz` answers 200.
    public static func start(only service: String, dataDir: String, environment: [String: String] = [:]) throws -> (Process, Int) {
        for _ in 0..<5 {
            let port = 20_000 + Int.random(in: 0..<12_000)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["serve", "--only", service, "--\(service)-port", "\(port)", "--data-dir", dataDir]
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            for _ in 0..<400 where p.isRunning {
                if RawClient.get(port: port, path: "/healthz")?.status == 200 { return (p, port) }
                usleep(25_000)
            }
            if p.isRunning { p.terminate() }
            p.waitUntilExit()
        }
        throw NotStarted(description: "openagents serve --only \(service) did not start")
    }

    /// Runs a program to its end: its exit status and everything it printed.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
