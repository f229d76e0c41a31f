import APIRuntime
import Foundation
import Generated
import HTTPServer
import RuntimeCore
import ServiceKit

/// How control reaches the runtime: the generated runtime client over a
/// pooled keep-alive HTTP client (or, when the runtime runs in the same
/// process, straight into its router: same middleware, no socket), every call signed with
/// `X-OA-RUNTIME-SIGNATURE` (the shared secret; `user_id` bound to the
/// session's user) and carrying the request's `x-request-id` and `traceparent`.
/// Failures become the answers section 3.2 gives: no runtime configured,
/// unreachable, timing out or 5xx is 503 naming the action; a 4xx is passed
/// through with its status and code.
public struct RuntimeProxy: Sendable {
    public let baseURL: String?
    let client: RuntimeV1.RuntimeServiceClient?
    let secret: [UInt8]?

    /// `baseURL` nil: not configured. `secret` nil: the runtime does not check signatures.
    /// `local`: the runtime of this same process, called through its router without a socket.
    public init(baseURL: String?, secret: [UInt8]?, timeout: Double = 5, local: RouterClient? = nil) throws {
        self.baseURL = baseURL
        self.secret = secret
        if let local {
            client = RuntimeV1.RuntimeServiceClient(APIClient(transport: RouterTransport(local), timeout: timeout))
            return
        }
        guard let baseURL else {
            client = nil
            return
        }
        guard let http = HTTPClient(url: baseURL, connectTimeout: 2, timeout: timeout) else {
            throw APIError.invalidRequest("the runtime URL \(baseURL) is not an http://host:port URL")
        }
        client = RuntimeV1.RuntimeServiceClient(APIClient(transport: HTTPClientTransport(http), timeout: timeout))
    }

    /// The headers of one forwarded call (a fresh single-use signature each).
    func headers(_ session: ControlSession, _ context: RequestContext) -> [(String, String)] {
        var h: [(String, String)] = [("x-request-id", context.requestID)]
        if !context.traceparent.isEmpty { h.append(("traceparent", context.traceparent)) }
        if let secret {
            h.append((RuntimeSignature.header, RuntimeSignature.sign(RuntimeSignature.claims(ttl: 60, userID: session.userID), secret: secret)))
        }
        return h
    }

    /// Runs one forwarded call; `action` names it in a 503 ("Failed to list runtime workers: ...").
    func call<T>(_ action: String, _ session: ControlSession, _ context: RequestContext,
                 _ body: (RuntimeV1.RuntimeServiceClient, [(String, String)]) async throws -> T) async throws -> T {
        guard let client else { throw APIError.unavailable("Runtime is not configured.") }
        do {
            return try await body(client, headers(session, context))
        } catch let e as APIClientError where (400..<500).contains(e.status) {
            throw ServiceError(e.status, e.code.isEmpty ? "runtime_error" : e.code, e.message.isEmpty ? "the runtime answered \(e.status)" : e.message)
        } catch let e as APIClientError {
            throw APIError.unavailable("Failed to \(action): the runtime answered \(e.status) \(e.code): \(e.message)")
        } catch {
            throw APIError.unavailable("Failed to \(action): \(error)")
        }
    }
}
