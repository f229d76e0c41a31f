import Foundation
import Generated
import TestSupport
import XCTest

/// The walkthrough's client (scripts/registry-session.py, Python
/// `websockets`): an independent WebSocket client calls initialize, reads the
/// registry, starts a codex session, watches it, sends a message and stops it.
final class RegistryClientScriptTests: RegistryHarness {
    func testTheDocumentedClientRunsASessionStartToStop() throws {
        let python = GeneratedAPITests.venv + "python"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw XCTSkip("\(python) is missing: `make test` installs the test tools") }
        try serve()
        let (status, text) = try ServeProcess.run(python, [Repo.path("scripts/registry-session.py"), "codex", "hello from the test"],
                                                  environment: ["SESSION_TOKEN": session("script-user"), "OA_CONTROL_URL": "http://127.0.0.1:\(controlPort)"])
        XCTAssertEqual(status, 0, text)
        for line in ["default runtime: claude", "codex    active", "gemini   preview", "sent: m1 accepted", "stopped: canceling",
                     "event 1 run.started", "event 2 run.frame", "event 3 run.cancel_requested"] {
            XCTAssertTrue(text.contains(line), "\(line) in:\n\(text)")
        }
        let session = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("session: ") }).dropFirst("session: ".count)
        XCTAssertEqual(try call(ControlV1.SessionStateResult.self, "session/state", ["session_id": String(session)], as: "script-user").status, "canceling")
    }
}
