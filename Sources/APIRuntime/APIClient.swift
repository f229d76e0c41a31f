import ProtoWire

/// One HTTP exchange as a client sends it.
public struct ClientRequest: Sendable {
    public var method: String
    /// Path and query, already encoded.
    public var target: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Seconds before the exchange is abandoned (nil: the transport's default).
    public var timeout: Double?
    public init(method: String, target: String, headers: [(String, String)], body: [UInt8], timeout: Double? = nil) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

public struct ClientResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }
}

/// Carries exchanges: our HTTP/1.1 client (`HTTPClient` in the HTTP core), or
/// anything else (tests, an in-process loopback).
public protocol ClientTransport: Sendable {
    func send(_ request: ClientRequest) async throws -> ClientResponse
}

/// An error response: the status and the envelope's code and message.
public struct APIClientError: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    public var body: [UInt8]
    public var description: String { "HTTP \(status) \(code): \(message)" }
}

/// What generated clients call: builds the request from a route and a typed
/// message, sends it, decodes the answer or throws `APIClientError`.
public struct APIClient: Sendable {
    public enum Encoding: Sendable { case json, protobuf }
    public let transport: any ClientTransport
    public var encoding: Encoding
    /// Sent with every request (e.g. a signature minter's output is per request: pass those per call).
    public var defaultHeaders: [(String, String)]
    public var timeout: Double?

    public init(transport: any ClientTransport, encoding: Encoding = .json, defaultHeaders: [(String, String)] = [], timeout: Double? = nil) {
        self.transport = transport
        self.encoding = encoding
        self.defaultHeaders = defaultHeaders
        self.timeout = timeout
    }

    static let jsonOut = JSONEncodingOptions()
    /// Tolerant reading: fields a newer server adds are skipped; REST enum words accepted.
    static let jsonIn = JSONDecodingOptions(ignoreUnknownFields: true, acceptEnumWireWords: true)
    static let protobuf = "application/x-protobuf"

    func target(_ route: RouteDescriptor, path: [String: String], query: [(String, String)]) -> String {
        var t = route.template.expand(path)
        if !query.isEmpty {
            t += "?" + query.map { PercentEncoding.encode($0.0) + "=" + PercentEncoding.encode($0.1) }.joined(separator: "&")
        }
        return t
    }

    func body<Req: ProtoMessage>(_ route: RouteDescriptor, _ request: Req) throws -> [UInt8] {
        guard route.body != .none else { return [] }
        switch encoding {
        case .protobuf: return request.serializedBytes()
        case .json: return try request.jsonBytes(options: Self.jsonOut)
        }
    }

    func exchange(_ route: RouteDescriptor, target: String, body: [UInt8], headers: [(String, String)]) async throws -> ClientResponse {
        var h = defaultHeaders + headers
        if !body.isEmpty || route.body != .none { h.append(("content-type", encoding == .json ? "application/json" : Self.protobuf)) }
        if route.mediaType.isEmpty { h.append(("accept", encoding == .json ? "application/json" : Self.protobuf)) }
        let response = try await transport.send(ClientRequest(method: route.method, target: target, headers: h, body: body, timeout: timeout))
        guard (200..<300).contains(response.status) else { throw Self.error(response) }
        return response
    }

    public func unary<Req: ProtoMessage, Res: ProtoMessage>(_ route: RouteDescriptor, _ request: Req, path: [String: String], query: [(String, String)],
                                                            as: Res.Type, headers: [(String, String)]) async throws -> APIResponse<Res> {
        let response = try await exchange(route, target: target(route, path: path, query: query), body: try body(route, request), headers: headers)
        let message: Res
        if response.header("content-type")?.hasPrefix(Self.protobuf) == true {
            message = try Res(serializedBytes: response.body)
        } else {
            message = try Res(jsonBytes: response.body, options: Self.jsonIn)
        }
        return APIResponse(message, status: response.status, headers: response.headers)
    }

    /// A route whose answer is not a message (REPLAY.jsonl, Prometheus text).
    public func raw<Req: ProtoMessage, Res: ProtoMessage>(_ route: RouteDescriptor, _ request: Req, path: [String: String], query: [(String, String)],
                                                          headers: [(String, String)], wrap: (String, [UInt8]) -> Res) async throws -> APIResponse<Res> {
        let response = try await exchange(route, target: target(route, path: path, query: query), body: try body(route, request), headers: headers)
        return APIResponse(wrap(response.header("content-type") ?? "", response.body), status: response.status, headers: response.headers)
    }

    /// An rpc with no REST binding: Connect unary.
    public func connect<Req: ProtoMessage, Res: ProtoMessage>(_ route: RouteDescriptor, _ request: Req, as: Res.Type, headers: [(String, String)]) async throws -> APIResponse<Res> {
        let json = encoding == .json
        var h = defaultHeaders + headers
        h.append(("content-type", json ? "application/json" : "application/proto"))
        let body = json ? try request.jsonBytes(options: Self.jsonOut) : request.serializedBytes()
        let response = try await transport.send(ClientRequest(method: "POST", target: route.connectPath, headers: h, body: body, timeout: timeout))
        guard response.status == 200 else { throw Self.error(response) }
        let message = json ? try Res(jsonBytes: response.body, options: Self.jsonIn) : try Res(serializedBytes: response.body)
        return APIResponse(message, status: 200, headers: response.headers)
    }

    /// Reads `{"error":{"code","message"}}` (REST) or `{"code","message"}` (Connect).
    static func error(_ r: ClientResponse) -> APIClientError {
        var code = "", message = ""
        r.body.withUnsafeBytes { buf in
            var reader = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            func fields(_ reader: inout JSONReader) throws(JSONDecodingError) {
                try reader.readObject { (r: inout JSONReader, key: String) throws(JSONDecodingError) in
                    switch key {
                    case "code": code = try r.readString()
                    case "message": message = try r.readString()
                    case "error": try fields(&r)
                    default: try r.skipValue()
                    }
                }
            }
            do { try fields(&reader) } catch {}
        }
        return APIClientError(status: r.status, code: code.isEmpty ? "http_\(r.status)" : code, message: message, body: r.body)
    }
}
