import APIRuntime
import Generated
import HTTPServer
import ProtoWire

/// A JSON-RPC policy that runs before a method's handler (routing by
/// `agent_type`, the registry's initialize-first rule), as route middleware
/// does for REST: `next` runs the rest of the chain and the handler.
public protocol JSONRPCMiddleware: Sendable {
    func applies(to method: JSONRPCMethodDescriptor) -> Bool
    func handle(_ params: any JSONRPCParamsDecoding, context: JSONRPCContext,
                next: (JSONRPCContext) async throws -> any ProtoMessage) async throws -> any ProtoMessage
}

/// Dispatches valid requests to a generated method table: params decoded by
/// the JSON codec (by name, or by position in the table's field order),
/// unknown params refused, required params checked, middleware run, the
/// result written as the service's REST JSON with every field present
/// (clients of the registry read false and empty values too). Errors become
/// error objects here, in one place.
public struct JSONRPCDispatcher: Sendable {
    /// Each method with the middleware that applies to it, resolved once.
    let methods: [String: (bound: BoundJSONRPCMethod, chain: [any JSONRPCMiddleware])]

    public init(_ bound: [BoundJSONRPCMethod], middleware: [any JSONRPCMiddleware] = []) {
        var table: [String: (bound: BoundJSONRPCMethod, chain: [any JSONRPCMiddleware])] = [:]
        for b in bound { table[b.descriptor.name] = (b, middleware.filter { $0.applies(to: b.descriptor) }) }
        methods = table
    }

    public func descriptor(_ name: String) -> JSONRPCMethodDescriptor? { methods[name]?.bound.descriptor }

    /// The REST JSON of the service: every field present, 64-bit integers as numbers, enum wire words.
    public static let resultEncoding = MessageIO.restOut

    /// One request's outcome: the result's JSON or an error object.
    public func handle(_ request: JSONRPC.Request, transport: RequestContext, connection: (any JSONRPCConnection)?,
                       hooks: JSONRPCAfterAnswer = JSONRPCAfterAnswer()) async -> Result<[UInt8], JSONRPC.ErrorObject> {
        guard let (bound, chain) = methods[request.method] else { return .failure(.methodNotFound(request.method)) }
        let d = bound.descriptor
        let params = JSONRPCParams(raw: request.params, method: d)
        let context = JSONRPCContext(transport: transport, method: d, connection: connection, hooks: hooks)
        do {
            let result = try await Self.run(chain, params, context) { c in try await bound.invoke(params, c) }
            return .success(try result.jsonBytes(options: Self.resultEncoding))
        } catch {
            return .failure(JSONRPC.ErrorObject.mapped(error))
        }
    }

    static func run(_ chain: [any JSONRPCMiddleware], _ params: any JSONRPCParamsDecoding, _ context: JSONRPCContext, index: Int = 0,
                    _ body: (JSONRPCContext) async throws -> any ProtoMessage) async throws -> any ProtoMessage {
        if index == chain.count { return try await body(context) }
        return try await chain[index].handle(params, context: context) { c in try await run(chain, params, c, index: index + 1, body) }
    }
}

/// Params as the client sent them, decoded on demand.
struct JSONRPCParams: JSONRPCParamsDecoding {
    let raw: [UInt8]?
    let method: JSONRPCMethodDescriptor

    /// Positional params as the object they bind to (nil when absent).
    func object() throws(JSONRPC.ErrorObject) -> [UInt8]? {
        guard let raw else { return nil }
        guard raw.first == UInt8(ascii: "[") else { return raw }
        let items = JSONRPC.elements(raw)
        guard items.count <= method.params.count else {
            throw .invalidParams("\(method.name) takes at most \(method.params.count) positional params (\(method.params.joined(separator: ", "))); \(items.count) were given")
        }
        var out = Array("{".utf8)
        for (i, item) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += Array(jsonQuote(method.params[i]).utf8) + [UInt8(ascii: ":")] + item
        }
        return out + Array("}".utf8)
    }

    func decode<M: ProtoMessage>(_ type: M.Type) throws -> M {
        var m = M()
        if let object = try object() {
            do { try m.merge(jsonBytes: object, options: MessageIO.restIn) } catch {
                throw JSONRPC.ErrorObject.invalidParams("params of \(method.name) do not match \(method.paramsType): \(error)")
            }
        }
        if !method.required.isEmpty {
            var fields = DecodedFields(m)
            let present = fields.values()
            let missing = method.required.filter { (present[$0] ?? "").whitespaceTrimmed.isEmpty }
            if !missing.isEmpty {
                throw JSONRPC.ErrorObject.invalidParams("\(method.name) requires \(missing.joined(separator: ", "))", data: Array(
                    "{\"method\":\(jsonQuote(method.name)),\"missing\":[\(missing.map(jsonQuote).joined(separator: ","))]}".utf8))
            }
        }
        return m
    }

    func raw(_ name: String) -> [UInt8]? {
        guard let raw else { return nil }
        if raw.first == UInt8(ascii: "[") {
            guard let i = method.params.firstIndex(of: name) else { return nil }
            let items = JSONRPC.elements(raw)
            return i < items.count ? items[i] : nil
        }
        return JSONRPC.member(raw, name)
    }
}

extension JSONRPC {
    /// The raw elements of a JSON array.
    static func elements(_ array: [UInt8]) -> [[UInt8]] {
        var items: [[UInt8]] = []
        array.withUnsafeBytes { buf in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            try? r.readArrayAllowingNull { (r: inout JSONReader) throws(JSONDecodingError) in
                let start = r.position
                try r.skipValue()
                items.append(Array(array[start..<r.position]).trimmedJSON)
            }
        }
        return items
    }

    /// One member's raw value of a JSON object (the last, if repeated).
    static func member(_ object: [UInt8], _ name: String) -> [UInt8]? {
        var found: [UInt8]?
        object.withUnsafeBytes { buf in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            try? r.readObject(allowingNull: true) { (r: inout JSONReader, key: String) throws(JSONDecodingError) in
                let start = r.position
                try r.skipValue()
                if key == name { found = Array(object[start..<r.position]).trimmedJSON }
            }
        }
        return found
    }

    /// A raw JSON string's text (nil for null or a non-string).
    public static func text(_ raw: [UInt8]?) -> String? {
        guard let raw, raw.first == 0x22 else { return nil }
        return raw.withUnsafeBytes { buf in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            return try? r.readString()
        }
    }

    /// A notification's bytes (a server push).
    public static func notification(method: String, params: [UInt8]) -> [UInt8] {
        Array(#"{"jsonrpc":"2.0","method":"#.utf8) + quoted(method) + Array(#","params":"#.utf8) + params + [UInt8(ascii: "}")]
    }
}

extension JSONRPC.ErrorObject {
    /// Any error a handler threw, as an error object: method errors pass;
    /// a malformed or invalid request (400, 413, 415, 422) is invalid params;
    /// anything else is an internal error whose data keeps the service's code.
    public static func mapped(_ error: Error) -> JSONRPC.ErrorObject {
        if let e = error as? JSONRPC.ErrorObject { return e }
        guard let e = ServiceError.mapped(error) as? ServiceError else { return .internalError("\(error)") }
        let data = Array("{\"status\":\(e.status),\"code\":\(jsonQuote(e.code)),\"message\":\(jsonQuote(e.message))}".utf8)
        if [400, 413, 415, 422].contains(e.status) { return .invalidParams(e.message, data: data) }
        return JSONRPC.ErrorObject(-32603, "Internal error", data: data)
    }
}
