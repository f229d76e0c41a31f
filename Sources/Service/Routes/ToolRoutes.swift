import Generated
import HTTPServer

/// `POST /internal/v1/tools/execute` (`coding.v1`).
enum ToolRoutes {
    static func add(to r: inout Router, core: RuntimeCore, config: ServiceConfig, signed: SignedRoutes) {
        let executor = core.tools
        signed.post(&r, "/internal/v1/tools/execute") { req, _ in
            try Services.checkWritable(config)
            let body = try MessageIO.decode(RuntimeV1.ToolExecuteRequest.self, from: req)
            // The principal is the header, never the body's user_id.
            guard let user = req.headers["x-oa-user-id"]?.trimmingCharacters(in: .whitespaces), !user.isEmpty else {
                throw ServiceError.invalidRequest("x-oa-user-id is required")
            }
            var out = RuntimeV1.ToolExecuteResponse()
            out.data = try await executor.execute(body, user: user)
            return MessageIO.respond(200, out, to: req)
        }
    }
}
