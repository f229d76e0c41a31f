import APIRuntime
import ProtoWire

/// Extension and field numbers of the options the HTTP generators read.
enum OptionNumbers {
    /// `google.api.http` on MethodOptions.
    static let http: UInt32 = 72295728
    /// `(openagents.api.v1.route)` on MethodOptions.
    static let route: UInt32 = 51100
    /// `(openagents.api.v1.wire_word)` on EnumValueOptions.
    static let wireWord: UInt32 = 51101
    /// `(openagents.api.v1.required)` on FieldOptions.
    static let required: UInt32 = 51102
    /// `idempotency_level` in descriptor.proto's MethodOptions.
    static let idempotencyLevel: UInt32 = 34
    /// `(openagents.api.v1.service)` on ServiceOptions.
    static let serviceOptions: UInt32 = 51103
    /// `(openagents.api.v1.jsonrpc)` on MethodOptions.
    static let jsonrpc: UInt32 = 51104
}

extension RawOptions {
    /// The bytes of every length-delimited occurrence of `field`.
    func messages(_ field: UInt32) -> [[UInt8]] {
        var found: [[UInt8]] = []
        bytes.withUnsafeBytes { buf in
            var r = WireReader(buf)
            do {
                while let tag = try r.nextTag() {
                    if tag == field << 3 | 2 { found.append(try r.readBytes()) } else { try r.skipField(tag) }
                }
            } catch {}
        }
        return found
    }

    /// A submessage's fields read as options (a message is just more fields);
    /// repeated occurrences are concatenated, which is protobuf's merge.
    func message(_ field: UInt32) -> RawOptions? {
        let parts = messages(field)
        guard !parts.isEmpty else { return nil }
        var o = RawOptions()
        o.bytes = parts.flatMap { $0 }
        return o
    }

    func strings(_ field: UInt32) -> [String] {
        messages(field).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// A `google.api.HttpRule` as declared.
struct HTTPRule: Sendable {
    var method: String
    var path: String
    var body: String
    var responseBody: String
    var additional: [HTTPRule]

    /// Nil when the rule sets no pattern.
    init?(_ o: RawOptions) {
        let methods: [(UInt32, String)] = [(2, "GET"), (3, "PUT"), (4, "POST"), (5, "DELETE"), (6, "PATCH")]
        var found: (String, String)?
        for (n, m) in methods { if let p = o.string(n) { found = (m, p) } }
        if let custom = o.message(8) { found = ((custom.string(1) ?? "").uppercased(), custom.string(2) ?? "") }
        guard let (m, p) = found else { return nil }
        method = m
        path = p
        body = o.string(7) ?? ""
        responseBody = o.string(12) ?? ""
        additional = o.messages(11).compactMap { b in var r = RawOptions(); r.bytes = b; return HTTPRule(r) }
    }
}

/// `(openagents.api.v1.route)` as declared.
struct RouteOptionsModel: Sendable {
    var successStatus = 200
    var statuses: [(code: Int, description: String)] = []
    var mediaType = ""
    var auth = 0
    var writes = false
    var principal = 0
    var tag = ""
    /// `(owner, delivery, migration_status, rationale)` of `authority`, when declared.
    var authority: (owner: String, delivery: String, migrationStatus: String, rationale: String)?
    /// `websocket`: the stream is served as a WebSocket.
    var websocket = false

    init(_ o: RawOptions?) {
        guard let o else { return }
        if let s = o.varint(1), s != 0 { successStatus = Int(s) }
        statuses = o.messages(2).map { b in
            var r = RawOptions()
            r.bytes = b
            return (Int(r.varint(1) ?? 0), r.string(2) ?? "")
        }
        mediaType = o.string(3) ?? ""
        auth = Int(o.varint(4) ?? 0)
        writes = o.bool(5) ?? false
        principal = Int(o.varint(6) ?? 0)
        tag = o.string(7) ?? ""
        websocket = o.bool(9) ?? false
        if let a = o.message(8) { authority = (a.string(1) ?? "", a.string(2) ?? "", a.string(3) ?? "", a.string(4) ?? "") }
    }
}
