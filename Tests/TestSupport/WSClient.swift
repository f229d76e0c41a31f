import Foundation

/// A minimal RFC 6455 client for tests: it sends exactly the frames a test
/// builds (masked or not, fragmented, with reserved bits) and reads the
/// server's frames raw, so protocol violations can be provoked on purpose.
public final class WSClient {
    public let raw: RawClient
    public let upgrade: RawClient.Response

    public struct Frame: Equatable {
        public var fin: Bool
        public var opcode: UInt8
        public var payload: [UInt8]
        public var text: String { String(decoding: payload, as: UTF8.self) }
        /// A close frame's status code.
        public var closeCode: UInt16? { opcode == 8 && payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil }
    }

    /// Connects and sends the upgrade; `upgrade` is the server's answer (101 or an error).
    public init(port: Int, path: String, headers: [(String, String)] = [], timeout: Double = 5) throws {
        raw = try RawClient(port: port, timeout: timeout)
        let extra = headers.map { "\($0.0): \($0.1)\r\n" }.joined()
        raw.send("GET \(path) HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(extra)\r\n")
        guard var r = raw.readResponse(head: true) else { throw ConnectError() }
        if r.status != 101, let n = Int(r.headers["content-length"] ?? ""), n > 0 { r.body = raw.readBytes(n) ?? [] }
        upgrade = r
    }

    public static func frame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv: UInt8 = 0) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode]
        let m: UInt8 = masked ? 0x80 : 0
        if payload.count < 126 { out.append(m | UInt8(payload.count)) } else if payload.count <= 0xFFFF {
            out += [m | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            out.append(m | 127)
            for i in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: UInt64(payload.count) >> (UInt64(i) * 8))) }
        }
        guard masked else { return out + payload }
        let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        out += key
        for (i, b) in payload.enumerated() { out.append(b ^ key[i & 3]) }
        return out
    }

    public func send(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv: UInt8 = 0) {
        raw.send(Self.frame(opcode, payload, fin: fin, masked: masked, rsv: rsv))
    }
    public func send(text: String) { send(1, Array(text.utf8)) }

    /// The next server frame; nil on EOF or timeout.
    public func read() -> Frame? {
        guard let h = raw.readBytes(2) else { return nil }
        var length = UInt64(h[1] & 0x7F)
        if length == 126 { guard let b = raw.readBytes(2) else { return nil }; length = UInt64(b[0]) << 8 | UInt64(b[1]) }
        else if length == 127 { guard let b = raw.readBytes(8) else { return nil }; length = b.reduce(0) { $0 << 8 | UInt64($1) } }
        guard h[1] & 0x80 == 0 else { return nil }  // servers never mask
        guard let payload = length == 0 ? [] : raw.readBytes(Int(length)) else { return nil }
        return Frame(fin: h[0] & 0x80 != 0, opcode: h[0] & 0x0F, payload: payload)
    }

    /// The next text frame's payload, skipping pings.
    public func readText() -> String? {
        while let f = read() {
            if f.opcode == 1 { return f.text }
            if f.opcode == 8 { return nil }
        }
        return nil
    }
}
