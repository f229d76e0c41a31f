import HTTPServer
import ProtoWire

/// JSON-RPC 2.0 (https://www.jsonrpc.org/specification) as bytes in, bytes
/// out: message validation, batches, notifications and the error objects.
/// Ids and params are kept as the raw JSON the client sent, so an id is
/// echoed exactly (`1` stays `1`, never `1.0`) and each method decodes its own
/// params with the codec of its contract. Transports (HTTP POST, WebSocket
/// text frames) call `serve`.
public enum JSONRPC {
    /// One valid request or notification.
    public struct Request: Sendable, Equatable {
        /// The raw id (a string, a number or `null`); nil for a notification.
        public var id: [UInt8]?
        public var method: String
        /// The raw params (an array or an object); nil when absent.
        public var params: [UInt8]?
        public var isNotification: Bool { id == nil }
    }

    /// An error object (section 5.1): the reserved codes and a method's own.
    public struct ErrorObject: Error, Sendable, Equatable {
        public var code: Int
        public var message: String
        /// Raw JSON for `error.data`.
        public var data: [UInt8]?
        public init(_ code: Int, _ message: String, data: [UInt8]? = nil) {
            self.code = code
            self.message = message
            self.data = data
        }
        public static func parseError(_ detail: String) -> ErrorObject { ErrorObject(-32700, "Parse error", data: quoted(detail)) }
        public static func invalidRequest(_ detail: String) -> ErrorObject { ErrorObject(-32600, "Invalid Request", data: quoted(detail)) }
        public static func methodNotFound(_ method: String) -> ErrorObject { ErrorObject(-32601, "Method not found", data: quoted(method)) }
        public static func invalidParams(_ detail: String, data: [UInt8]? = nil) -> ErrorObject { ErrorObject(-32602, "Invalid params", data: data ?? quoted(detail)) }
        public static func internalError(_ detail: String, data: [UInt8]? = nil) -> ErrorObject { ErrorObject(-32603, "Internal error", data: data ?? quoted(detail)) }
    }

    static let null = Array("null".utf8)

    /// A body as the spec reads it: one message, a batch, or not JSON at all.
    public enum Body: Sendable, Equatable {
        case single(Result<Request, Refusal>)
        case batch([Result<Request, Refusal>])
        /// Not JSON: one parse-error response (id null).
        case unparsable(String)
    }

    /// A message that is not a valid request: answered with its id when one could be read, else null.
    public struct Refusal: Error, Sendable, Equatable {
        public var id: [UInt8]
        public var error: ErrorObject
    }

    public static func parse(_ body: [UInt8]) -> Body {
        // One object (the common case) is checked and read in a single pass; a batch is
        // checked whole first, so one bad element makes the body a parse error.
        let object: Bool = body.withUnsafeBytes { buf in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            return r.peek() == UInt8(ascii: "{")
        }
        if object { return read(body).map { .single($0) } ?? .unparsable("the body is not one JSON value") }
        let valid: Bool = body.withUnsafeBytes { buf in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            do { try r.skipValue(); try r.finish(); return true } catch { return false }
        }
        guard valid else { return .unparsable("the body is not one JSON value") }
        return body.withUnsafeBytes { buf -> Body in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            if r.peek() == UInt8(ascii: "[") {
                var items: [[UInt8]] = []
                try? r.readArrayAllowingNull { (r: inout JSONReader) throws(JSONDecodingError) in
                    let start = r.position
                    try r.skipValue()
                    items.append(Array(body[start..<r.position]))
                }
                // An empty batch is itself one invalid request (section 6).
                guard !items.isEmpty else { return .single(.failure(Refusal(id: null, error: .invalidRequest("an empty batch")))) }
                return .batch(items.map { message($0) })
            }
            return .single(message(body))
        }
    }

    /// One message of a body (already known to be valid JSON).
    static func message(_ bytes: [UInt8]) -> Result<Request, Refusal> {
        read(bytes) ?? .failure(Refusal(id: null, error: .invalidRequest("a request is a JSON object")))
    }

    /// One message; nil when the bytes are not one JSON value.
    static func read(_ bytes: [UInt8]) -> Result<Request, Refusal>? {
        bytes.withUnsafeBytes { buf -> Result<Request, Refusal>? in
            var r = JSONReader(buf, options: JSONDecodingOptions(ignoreUnknownFields: true))
            guard r.peek() == UInt8(ascii: "{") else { return .failure(Refusal(id: null, error: .invalidRequest("a request is a JSON object"))) }
            var version: String?, method: String?, methodIsString = true
            var id: [UInt8]?, params: [UInt8]?, problem: String?
            func raw(_ r: inout JSONReader) throws(JSONDecodingError) -> [UInt8] {
                let start = r.position
                try r.skipValue()
                return Array(bytes[start..<r.position]).trimmedJSON
            }
            do {
                try r.readObject(allowingNull: true) { (r: inout JSONReader, key: String) throws(JSONDecodingError) in
                    switch key {
                    case "jsonrpc":
                        if r.peek() == 0x22 { version = try r.readString() } else { _ = try raw(&r); problem = "jsonrpc must be the string \"2.0\"" }
                    case "method":
                        if r.peek() == 0x22 { method = try r.readString() } else { _ = try raw(&r); methodIsString = false }
                    case "params":
                        let c = r.peek()
                        let v = try raw(&r)
                        if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") { params = v } else { problem = "params must be an array or an object" }
                    case "id":
                        let c = r.peek()
                        let v = try raw(&r)
                        // A string, a number or null; objects, arrays and booleans are not ids.
                        if c == 0x22 || c == UInt8(ascii: "n") || c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) { id = v } else { problem = "id must be a string, a number or null" }
                    default:
                        try r.skipValue()
                    }
                }
                try r.finish()
            } catch {
                return nil
            }
            let answerID = id ?? null
            if let problem { return .failure(Refusal(id: answerID, error: .invalidRequest(problem))) }
            guard version == "2.0" else { return .failure(Refusal(id: answerID, error: .invalidRequest("jsonrpc must be \"2.0\""))) }
            guard methodIsString, let method else { return .failure(Refusal(id: answerID, error: .invalidRequest("method must be a string"))) }
            return .success(Request(id: id, method: method, params: params))
        }
    }

    // MARK: Responses

    public static func response(id: [UInt8], result: [UInt8]) -> [UInt8] {
        Array(#"{"jsonrpc":"2.0","result":"#.utf8) + result + Array(#","id":"#.utf8) + id + [UInt8(ascii: "}")]
    }

    public static func response(id: [UInt8], error: ErrorObject) -> [UInt8] {
        var e = Array(#"{"code":"#.utf8) + Array(String(error.code).utf8) + Array(#","message":"#.utf8) + quoted(error.message)
        if let data = error.data { e += Array(#","data":"#.utf8) + data }
        e.append(UInt8(ascii: "}"))
        return Array(#"{"jsonrpc":"2.0","error":"#.utf8) + e + Array(#","id":"#.utf8) + id + [UInt8(ascii: "}")]
    }

    /// Answers a body: each request's response (a batch's in an array, in
    /// request order), nothing for notifications; nil when there is nothing
    /// to send (a notification, or a batch of them).
    public static func serve(_ body: [UInt8], _ handle: (Request) async -> Result<[UInt8], ErrorObject>) async -> [UInt8]? {
        await answer(parse(body), handle)
    }

    /// `serve` for a body already parsed (the WebSocket lane checks each request's method as it arrives).
    public static func answer(_ parsed: Body, _ handle: (Request) async -> Result<[UInt8], ErrorObject>) async -> [UInt8]? {
        func one(_ item: Result<Request, Refusal>) async -> [UInt8]? {
            switch item {
            case .failure(let refusal): return response(id: refusal.id, error: refusal.error)
            case .success(let request):
                let outcome = await handle(request)
                guard let id = request.id else { return nil }  // a notification is never answered, even when it fails
                switch outcome {
                case .success(let result): return response(id: id, result: result)
                case .failure(let error): return response(id: id, error: error)
                }
            }
        }
        switch parsed {
        case .unparsable(let why): return response(id: null, error: .parseError(why))
        case .single(let item): return await one(item)
        case .batch(let items):
            var out: [[UInt8]] = []
            for item in items { if let r = await one(item) { out.append(r) } }
            guard !out.isEmpty else { return nil }
            return [UInt8(ascii: "[")] + Array(out.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "]")]
        }
    }

    static func quoted(_ s: String) -> [UInt8] { Array(jsonQuote(s).utf8) }
}

extension Array where Element == UInt8 {
    /// Without the whitespace a raw slice may carry around its value.
    var trimmedJSON: [UInt8] {
        var s = self[...]
        while let f = s.first, f == 0x20 || f == 0x0A || f == 0x0D || f == 0x09 { s = s.dropFirst() }
        while let l = s.last, l == 0x20 || l == 0x0A || l == 0x0D || l == 0x09 { s = s.dropLast() }
        return Array(s)
    }
}
