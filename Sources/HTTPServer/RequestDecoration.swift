/// What a request gets before its handler runs, for a connection and for
/// `RouterClient` alike: its path and query split, a request id, trace context.
extension HTTPRequest {
    /// A request as a client would send it: `target` split into path and query.
    public init(method: String, target: String, headers: HTTPHeaders, body: [UInt8]) {
        let q = target.firstIndex(of: "?")
        self.init(method: method, target: target, path: q.map { String(target[..<$0]) } ?? target,
                  query: q.map { String(target[target.index(after: $0)...]) } ?? "", version: 11, headers: headers, body: body)
    }

    /// Request id (echoed when sane, else generated) and W3C trace context (continued when valid, else new).
    mutating func decorate(ids: inout IDGenerator) {
        if let id = headers["x-request-id"], !id.isEmpty, id.utf8.count <= 128, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) {
            requestID = id
        } else {
            requestID = ids.hex(16)
        }
        var t = TraceContext(traceID: ids.hex(16), parentID: nil, spanID: ids.hex(8), flags: "01", state: nil)
        // 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>, ids not all zero (W3C trace context), read as bytes.
        if let tp = headers["traceparent"] {
            let b = Array(tp.utf8)
            func hex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c | 0x20 >= 0x61 && c | 0x20 <= 0x66) }
            func allHex(_ r: Range<Int>) -> Bool { r.allSatisfy { hex(b[$0]) } }
            func nonZero(_ r: Range<Int>) -> Bool { r.contains { b[$0] != 0x30 } }
            if b.count == 55, b[0] == 0x30, b[1] == 0x30, b[2] == 0x2D, b[35] == 0x2D, b[52] == 0x2D,
               allHex(3..<35), allHex(36..<52), allHex(53..<55), nonZero(3..<35), nonZero(36..<52) {
                func lower(_ r: Range<Int>) -> String { String(decoding: b[r].map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self) }
                t.traceID = lower(3..<35)
                t.parentID = lower(36..<52)
                t.flags = String(decoding: b[53..<55], as: UTF8.self)
                t.state = headers["tracestate"]
            }
        }
        trace = t
    }
}
