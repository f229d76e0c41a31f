import RuntimeCore
import APIRuntime
import Generated
import HTTPServer
import ServiceKit

/// `auth: AUTH_RUNTIME_SIGNATURE` routes: the token is verified (and its
/// nonce spent) before the request is decoded, bound to the path `run_id`,
/// the query `thread_id` and the principal headers; the verified claims go
/// into the context. With no verifier (`RUNTIME_INTERNAL_AUTH=disabled`)
/// every request passes.
struct SignatureMiddleware: RouteMiddleware {
    let verifier: RuntimeSignature?
    func applies(to route: RouteDescriptor) -> Bool { route.auth == .runtimeSignature && verifier != nil }

    func handle(_ request: HTTPRequest, context: RequestContext, next: (HTTPRequest, RequestContext) async throws -> HTTPResponse) async throws -> HTTPResponse {
        guard context.route.auth == .runtimeSignature, let verifier else { return try await next(request, context) }
        let bindings = RuntimeSignature.Bindings(runID: request.params["run_id"], threadID: request.queryItems["thread_id"],
                                                 userID: request.headers["x-oa-user-id"], guestScope: request.headers["x-oa-guest-scope"])
        var c = context
        c.claims = try verifier.verify(request.headers[RuntimeSignature.header], bindings: bindings)
        return try await next(request, c)
    }
}

/// The claims also bind fields only the decoded request shows: a body
/// `thread_id`, and on Connect routes (no path, no query) `run_id` too.
struct SignatureClaimsCheck: RequestCheck {
    func check(_ fields: DecodedFields, context: RequestContext) throws {
        guard let claims = context.claims as? RuntimeV1.RuntimeSignatureClaims else { return }
        var f = fields
        for (name, claim) in [("run_id", claims.runId), ("thread_id", claims.threadId)] where !claim.isEmpty {
            let actual = f.string(name)
            if !actual.isEmpty && actual != claim { throw ServiceError(403, "forbidden", "claim mismatch for \(name)") }
        }
    }
}
