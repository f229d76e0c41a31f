import APIRuntime
import Dispatch
import Foundation
import Generated
import HTTPServer
import ProtoWire

/// Connect unary (connectrpc.com/docs/protocol) on the same route table:
/// `POST /<package>.<Service>/<Method>` with `application/json` (canonical
/// proto3 JSON) or `application/proto`, GET for `NO_SIDE_EFFECTS` rpcs
/// (`?message=…&encoding=…&base64=1`), `Connect-Timeout-Ms`, and Connect's
/// error JSON with its code-to-status table. Same middleware, same handler.
enum ConnectProtocol {
    static let canonicalOut = JSONEncodingOptions(typeRegistry: GeneratedTypes.registry)
    static let canonicalIn = JSONDecodingOptions(typeRegistry: GeneratedTypes.registry)

    /// Our HTTP statuses as Connect codes.
    static func code(forStatus status: Int) -> String {
        switch status {
        case 400, 422: return "invalid_argument"
        case 401: return "unauthenticated"
        case 403: return "permission_denied"
        case 404: return "not_found"
        case 409: return "aborted"
        case 410: return "out_of_range"
        case 413, 429: return "resource_exhausted"
        case 501: return "unimplemented"
        case 503: return "unavailable"
        case 504: return "deadline_exceeded"
        default: return "internal"
        }
    }

    /// Connect's code-to-status table.
    static func status(forCode code: String) -> Int {
        switch code {
        case "canceled": return 499
        case "invalid_argument", "failed_precondition", "out_of_range": return 400
        case "deadline_exceeded": return 504
        case "not_found": return 404
        case "already_exists", "aborted": return 409
        case "permission_denied": return 403
        case "resource_exhausted": return 429
        case "unimplemented": return 501
        case "unavailable": return 503
        case "unauthenticated": return 401
        default: return 500
        }
    }

    /// `{"code","message","details":[{"type","value"}]}`; our envelope body rides
    /// along as a detail so reason codes and cursor hints survive.
    static func errorResponse(_ e: ServiceError) -> HTTPResponse {
        let code = code(forStatus: e.status)
        var body = RuntimeV1.ErrorBody()
        body.code = e.code
        body.message = e.message
        body.details = e.details.map { d in var v = GoogleProtobuf.Value(); v.kind = .stringValue(d); return v }
        e.configure?(&body)
        var value = Base64.encode(body.serializedBytes())
        while value.hasSuffix("=") { value.removeLast() }
        let json = "{\"code\":\(jsonQuote(code)),\"message\":\(jsonQuote(e.message)),\"details\":[{\"type\":\"openagents.runtime.v1.ErrorBody\",\"value\":\(jsonQuote(value))}]}"
        var r = HTTPResponse.json(status(forCode: code), Array(json.utf8))
        for (k, v) in e.extraHeaders where k.lowercased() != "content-type" { r.headers.add(k, v) }
        return r
    }

    static func failure(_ status: Int, _ code: String, _ message: String) -> HTTPResponse {
        HTTPResponse.json(status, Array("{\"code\":\(jsonQuote(code)),\"message\":\(jsonQuote(message))}".utf8))
    }

    enum Codec { case json, proto }

    static func handler(_ bound: BoundRoute, binder: RouteBinder) -> Router.AsyncHandler {
        let d = bound.descriptor
        let chain = binder.chain(for: d)
        return { request in
            // Negotiation is by the request's codec only; the response uses the same.
            let codec: Codec
            let payload: [UInt8]
            if request.method == "GET" || request.method == "HEAD" {
                let q = request.queryItems
                switch q["encoding"] {
                case "json": codec = .json
                case "proto": codec = .proto
                default: return failure(400, "invalid_argument", "GET needs encoding=json or encoding=proto")
                }
                if let c = q["compression"], c != "identity" { return failure(501, "unimplemented", "compression \(c) is not supported; supported: identity") }
                let text = q["message"] ?? ""
                if q["base64"] == "1" {
                    guard let bytes = Base64URLLoose.decode(text) else { return failure(400, "invalid_argument", "message is not valid base64") }
                    payload = bytes
                } else {
                    payload = Array(text.utf8)
                }
            } else {
                let type = request.headers["content-type"]?.split(separator: ";").first.map { $0.whitespaceTrimmed.lowercased() } ?? ""
                switch type {
                case "application/json": codec = .json
                case "application/proto": codec = .proto
                default:
                    return HTTPResponse(status: 415, headers: HTTPHeaders([("accept-post", "application/json, application/proto")]), body: [])
                }
                if let enc = request.headers["content-encoding"], enc != "identity" {
                    return failure(501, "unimplemented", "content-encoding \(enc) is not supported; supported: identity")
                }
                payload = request.body
            }
            var context = RouteBinder.context(request, d)
            if let t = request.headers["connect-timeout-ms"] {
                guard t.count <= 10, let ms = UInt64(t) else { return failure(400, "invalid_argument", "Connect-Timeout-Ms must be at most 10 digits") }
                context.deadline = DispatchTime.now().uptimeNanoseconds &+ ms &* 1_000_000
            }
            do {
                return try await RouteBinder.run(chain, request, context) { request, context in
                    let decoder = ConnectDecoder(payload: payload, codec: codec, route: d, binder: binder, context: context)
                    guard case .unary(let call) = bound.invoke else { return failure(501, "unimplemented", "streaming rpcs are served over SSE only") }
                    let out = try await call(decoder, context)
                    if let deadline = context.deadline, DispatchTime.now().uptimeNanoseconds > deadline {
                        return failure(504, "deadline_exceeded", "the call took longer than Connect-Timeout-Ms")
                    }
                    let body: [UInt8]
                    switch codec {
                    case .json: body = try out.message.jsonBytes(options: canonicalOut)
                    case .proto: body = out.message.serializedBytes()
                    }
                    var r = HTTPResponse(status: 200, headers: HTTPHeaders([("content-type", codec == .json ? "application/json" : "application/proto")]), body: body)
                    for (k, v) in out.headers where k.lowercased() != "content-type" && k.lowercased() != "cache-control" { r.headers.add(k, v) }
                    return r
                }
            } catch let e as ServiceError {
                return errorResponse(e)
            } catch let e as APIError {
                return errorResponse(ServiceError(e))
            } catch let e as HTTPFailure {
                return failure(status(forCode: code(forStatus: e.status)), code(forStatus: e.status), e.message)
            } catch {
                return failure(500, "internal", "internal error")
            }
        }
    }
}

struct ConnectDecoder: RequestDecoding {
    let payload: [UInt8]
    let codec: ConnectProtocol.Codec
    let route: RouteDescriptor
    let binder: RouteBinder
    let context: RequestContext

    func decode<M: ProtoMessage>(_ type: M.Type) throws -> M {
        let m: M
        do {
            switch codec {
            case .json: m = payload.isEmpty ? M() : try M(jsonBytes: payload, options: ConnectProtocol.canonicalIn)
            case .proto: m = try M(serializedBytes: payload)
            }
        } catch {
            throw ServiceError.invalidRequest("invalid \(codec == .json ? "JSON" : "protobuf") message: \(error)")
        }
        try binder.validate(m, route, context)
        return m
    }
}

/// Base64 in either alphabet, padded or not (Connect GET `message`).
enum Base64URLLoose {
    static func decode(_ s: String) -> [UInt8]? {
        var t = String(s.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 })
        while t.count % 4 != 0 { t += "=" }
        return Base64.decode(t)
    }
}
