import Generated
import HTTPServer

/// Registers `/internal/v1` routes behind `X-OA-RUNTIME-SIGNATURE`: the token
/// is verified (and its nonce spent) before the handler runs, bound to the
/// path `run_id`, the query `thread_id` and the principal headers. A handler
/// whose `thread_id` is in the body binds it with `Signed.bind(threadID:)`.
/// With no verifier (`RUNTIME_INTERNAL_AUTH=disabled`) every request passes.
struct SignedRoutes {
    let verifier: RuntimeSignature?

    /// The verified claims of one request.
    struct Signed: Sendable {
        let claims: RuntimeV1.RuntimeSignatureClaims?
        func bind(threadID: String) throws {
            if let c = claims, !c.threadId.isEmpty, !threadID.isEmpty, c.threadId != threadID {
                throw ServiceError(403, "forbidden", "claim mismatch for thread_id")
            }
        }
    }

    func check(_ req: HTTPRequest) throws -> Signed {
        guard let verifier else { return Signed(claims: nil) }
        return Signed(claims: try verifier.verify(req.headers[RuntimeSignature.header], bindings: RuntimeSignature.bindings(of: req)))
    }

    func get(_ r: inout Router, _ path: String, _ handler: @escaping @Sendable (HTTPRequest, Signed) async throws -> HTTPResponse) {
        r.get(path) { [self] req in try await handler(req, try check(req)) }
    }
    func getSync(_ r: inout Router, _ path: String, _ handler: @escaping @Sendable (HTTPRequest, Signed) throws -> HTTPResponse) {
        r.getSync(path) { [self] req in try handler(req, try check(req)) }
    }
    func post(_ r: inout Router, _ path: String, _ handler: @escaping @Sendable (HTTPRequest, Signed) async throws -> HTTPResponse) {
        r.post(path) { [self] req in try await handler(req, try check(req)) }
    }
}
