import APIRuntime
import HTTPServer

/// Generated clients over our HTTP/1.1 client.
public struct HTTPClientTransport: ClientTransport {
    public let client: HTTPClient
    public init(_ client: HTTPClient) { self.client = client }

    public func send(_ request: ClientRequest) async throws -> ClientResponse {
        let r = try await client.send(method: request.method, target: request.target, headers: request.headers, body: request.body, timeout: request.timeout)
        return ClientResponse(status: r.status, headers: r.headers, body: r.body)
    }
}

/// Generated clients straight into a router of this process (`RouterClient`):
/// the same routes, middleware and envelopes, no socket.
public struct RouterTransport: ClientTransport {
    public let client: RouterClient
    public init(_ client: RouterClient) { self.client = client }

    public func send(_ request: ClientRequest) async throws -> ClientResponse {
        let r = await client.send(method: request.method, target: request.target, headers: request.headers, body: request.body)
        return ClientResponse(status: r.status, headers: r.headers, body: r.body)
    }
}
