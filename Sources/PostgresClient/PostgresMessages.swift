/// The frontend/backend protocol 3.0 as bytes: frontend messages built,
/// backend messages framed and read. No I/O here (the connection does it).
enum Frontend {
    static func int32(_ v: Int32) -> [UInt8] { [UInt8(truncatingIfNeeded: v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
    static func int16(_ v: Int16) -> [UInt8] { [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
    static func cString(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

    /// A typed message: type byte, length (itself included), body.
    static func message(_ type: UInt8, _ body: [UInt8]) -> [UInt8] { [type] + int32(Int32(body.count + 4)) + body }

    static func startup(user: String, database: String, applicationName: String) -> [UInt8] {
        var body = int32(196_608)
        for (k, v) in [("user", user), ("database", database), ("application_name", applicationName), ("client_encoding", "UTF8"),
                       ("DateStyle", "ISO"), ("TimeZone", "UTC")] {
            body += cString(k) + cString(v)
        }
        body.append(0)
        return int32(Int32(body.count + 4)) + body
    }

    static let sslRequest: [UInt8] = int32(8) + int32(80_877_103)
    static func password(_ p: String) -> [UInt8] { message(UInt8(ascii: "p"), cString(p)) }
    static func saslInitial(mechanism: String, _ data: [UInt8]) -> [UInt8] { message(UInt8(ascii: "p"), cString(mechanism) + int32(Int32(data.count)) + data) }
    static func saslResponse(_ data: [UInt8]) -> [UInt8] { message(UInt8(ascii: "p"), data) }
    static func query(_ sql: String) -> [UInt8] { message(UInt8(ascii: "Q"), cString(sql)) }
    static func parse(name: String, sql: String) -> [UInt8] { message(UInt8(ascii: "P"), cString(name) + cString(sql) + int16(0)) }

    /// Text-format parameters (nil is NULL) and text-format results.
    /// Built in one buffer, its length patched in at the end: every query sends one.
    static func bind(statement: String, _ params: [String?]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + statement.utf8.count + params.reduce(0) { $0 + 4 + ($1?.utf8.count ?? 0) })
        out.append(UInt8(ascii: "B"))
        out += [0, 0, 0, 0]
        out.append(0)  // the unnamed portal
        out += statement.utf8
        out.append(0)
        out += [0, 0]  // every parameter in text format
        append16(Int16(params.count), to: &out)
        for p in params {
            if let p {
                append32(Int32(p.utf8.count), to: &out)
                out += p.utf8
            } else {
                append32(-1, to: &out)
            }
        }
        out += [0, 0]  // every result column in text format
        let n = Int32(out.count - 1)
        out[1] = UInt8(truncatingIfNeeded: n >> 24); out[2] = UInt8(truncatingIfNeeded: n >> 16)
        out[3] = UInt8(truncatingIfNeeded: n >> 8); out[4] = UInt8(truncatingIfNeeded: n)
        return out
    }

    static func append32(_ v: Int32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: v >> 24)); out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 8)); out.append(UInt8(truncatingIfNeeded: v))
    }
    static func append16(_ v: Int16, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: v >> 8)); out.append(UInt8(truncatingIfNeeded: v))
    }

    static func describePortal() -> [UInt8] { message(UInt8(ascii: "D"), [UInt8(ascii: "P"), 0]) }
    static func describeStatement(_ name: String) -> [UInt8] { message(UInt8(ascii: "D"), [UInt8(ascii: "S")] + cString(name)) }
    static func execute() -> [UInt8] { executeAll }
    /// Execute the unnamed portal, every row.
    static let executeAll: [UInt8] = message(UInt8(ascii: "E"), cString("") + int32(0))
    static let sync: [UInt8] = message(UInt8(ascii: "S"), [])
    static let terminate: [UInt8] = message(UInt8(ascii: "X"), [])
    static func closeStatement(_ name: String) -> [UInt8] { message(UInt8(ascii: "C"), [UInt8(ascii: "S")] + cString(name)) }
}

/// One backend message: its type byte and body.
struct BackendMessage {
    var type: UInt8
    var body: [UInt8]

    /// A cursor over a body.
    struct Reader {
        let b: [UInt8]
        var i = 0
        init(_ b: [UInt8]) { self.b = b }
        mutating func int32() throws(PostgresError) -> Int32 {
            guard i + 4 <= b.count else { throw PostgresError(.protocolViolation, "a message ends inside an Int32") }
            defer { i += 4 }
            return Int32(bitPattern: UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3]))
        }
        mutating func int16() throws(PostgresError) -> Int16 {
            guard i + 2 <= b.count else { throw PostgresError(.protocolViolation, "a message ends inside an Int16") }
            defer { i += 2 }
            return Int16(bitPattern: UInt16(b[i]) << 8 | UInt16(b[i + 1]))
        }
        mutating func byte() throws(PostgresError) -> UInt8 {
            guard i < b.count else { throw PostgresError(.protocolViolation, "a message ends early") }
            defer { i += 1 }
            return b[i]
        }
        mutating func cString() throws(PostgresError) -> String {
            guard let end = b[i...].firstIndex(of: 0) else { throw PostgresError(.protocolViolation, "a string is not terminated") }
            defer { i = end + 1 }
            return String(decoding: b[i..<end], as: UTF8.self)
        }
        mutating func bytes(_ n: Int) throws(PostgresError) -> ArraySlice<UInt8> {
            guard n >= 0, i + n <= b.count else { throw PostgresError(.protocolViolation, "a value runs past its message") }
            defer { i += n }
            return b[i..<i + n]
        }
        var rest: ArraySlice<UInt8> { b[i...] }
    }

    /// ErrorResponse / NoticeResponse fields.
    func fields() throws(PostgresError) -> [UInt8: String] {
        var r = Reader(body)
        var out: [UInt8: String] = [:]
        while true {
            let code = try r.byte()
            if code == 0 { return out }
            out[code] = try r.cString()
        }
    }
}

/// Frames backend messages out of a byte stream.
struct BackendFramer {
    private var buffer: [UInt8] = []
    private var start = 0

    mutating func feed(_ bytes: ArraySlice<UInt8>) {
        if start > 0 && start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        buffer += bytes
    }

    /// The next whole message, if buffered.
    mutating func next() throws(PostgresError) -> BackendMessage? {
        guard buffer.count - start >= 5 else { return nil }
        let len = Int(UInt32(buffer[start + 1]) << 24 | UInt32(buffer[start + 2]) << 16 | UInt32(buffer[start + 3]) << 8 | UInt32(buffer[start + 4]))
        guard len >= 4, len <= 1 << 30 else { throw PostgresError(.protocolViolation, "a message claims \(len) bytes") }
        guard buffer.count - start >= 1 + len else { return nil }
        let m = BackendMessage(type: buffer[start], body: Array(buffer[(start + 5)..<(start + 1 + len)]))
        start += 1 + len
        if start > 64 * 1024 { buffer.removeFirst(start); start = 0 }
        return m
    }

    /// One raw byte (the SSLRequest's answer).
    mutating func byte() -> UInt8? {
        guard start < buffer.count else { return nil }
        defer { start += 1 }
        return buffer[start]
    }
}
