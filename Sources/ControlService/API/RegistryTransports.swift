import APIRuntime
import Generated
import HTTPServer
import ServiceKit

/// The routes that carry the capability registry's JSON-RPC surface
/// (control_service.proto): the session middleware has verified the caller
/// before any of them runs, and before a WebSocket upgrade.
extension ControlHandler {
    public func callRegistryRpc(_ request: ApiV1.HttpBody, context: RequestContext) async throws -> APIResponse<ApiV1.HttpBody> {
        try await JSONRPCTransport.post(request, transport: context, dispatcher: rpc)
    }

    public func followRegistryRpc(_ request: ControlV1.RegistryRpcSocketRequest, context: RequestContext) async throws -> ServerStream<ApiV1.HttpBody> {
        let dispatcher = rpc
        return ServerStream { sink in
            guard let socket = JSONRPCTransport.socket(of: sink) else { return }
            await JSONRPCSocket(socket: socket, dispatcher: dispatcher, transport: context, opening: RegistryRPC.opening).run()
        }
    }

    public func getRegistryRpcDiscover(_ request: ControlV1.RegistryRpcDiscoverRequest, context: RequestContext) async throws -> APIResponse<ApiV1.HttpBody> {
        var body = ApiV1.HttpBody()
        body.contentType = "application/json"
        body.data = registry.discoverJSON
        return APIResponse(body)
    }
}
