/// RFC 6455 framing as values: the parser turns a client's bytes into
/// messages and control frames, or into the close code the RFC prescribes for
/// the violation; the encoder writes the server's (unmasked) frames. No
/// sockets here: the connection feeds bytes in and carries the results out.
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA
    var isControl: Bool { rawValue & 0x8 != 0 }
}

/// Close status codes (RFC 6455 7.4.1) the server sends.
public enum WebSocketCloseCode {
    public static let normal: UInt16 = 1000
    public static let goingAway: UInt16 = 1001
    public static let protocolError: UInt16 = 1002
    public static let invalidPayload: UInt16 = 1007
    public static let policyViolation: UInt16 = 1008
    public static let tooBig: UInt16 = 1009
    public static let internalError: UInt16 = 1011

    /// Whether a peer may send `code` in a close frame (7.4.1, 7.4.2).
    static func isValidReceived(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1011, 3000...4999: return true
        default: return false
        }
    }
}

/// A complete message or control frame from the client.
public enum WebSocketEvent: Equatable, Sendable {
    case text(String)
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    /// The peer's close: its code (nil when the frame had none) and reason.
    case close(UInt16?, String)
}

/// A violation, with the status code the close frame carries.
public struct WebSocketViolation: Error, Equatable, Sendable {
    public let code: UInt16
    public let reason: String
}

public struct WebSocketParser: Sendable {
    /// A data message (all its fragments together) may not exceed this.
    public var maxMessageBytes: Int
    private var fragments: [UInt8] = []
    private var fragmentOpcode: WebSocketOpcode?

    public init(maxMessageBytes: Int = 1 << 20) { self.maxMessageBytes = maxMessageBytes }

    /// The next event in `input` from `start`, and where it ends; nil while
    /// the frame is incomplete (or a fragment was absorbed: call again).
    public mutating func next(_ input: [UInt8], from start: Int) throws(WebSocketViolation) -> (event: WebSocketEvent?, end: Int)? {
        let available = input.count - start
        guard available >= 2 else { return nil }
        let b0 = input[start], b1 = input[start + 1]
        let fin = b0 & 0x80 != 0
        guard b0 & 0x70 == 0 else { throw violation(WebSocketCloseCode.protocolError, "reserved bits set without an extension") }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else { throw violation(WebSocketCloseCode.protocolError, "unknown opcode \(b0 & 0x0F)") }
        guard b1 & 0x80 != 0 else { throw violation(WebSocketCloseCode.protocolError, "client frames must be masked") }
        var length = UInt64(b1 & 0x7F)
        var offset = start + 2
        if length == 126 {
            guard available >= 4 else { return nil }
            length = UInt64(input[offset]) << 8 | UInt64(input[offset + 1])
            offset += 2
        } else if length == 127 {
            guard available >= 10 else { return nil }
            length = 0
            for i in 0..<8 { length = length << 8 | UInt64(input[offset + i]) }
            guard length >> 63 == 0 else { throw violation(WebSocketCloseCode.protocolError, "payload length has its high bit set") }
            offset += 8
        }
        if opcode.isControl {
            guard fin else { throw violation(WebSocketCloseCode.protocolError, "control frames must not be fragmented") }
            guard length <= 125 else { throw violation(WebSocketCloseCode.protocolError, "control frame payload over 125 bytes") }
        } else if length > UInt64(maxMessageBytes) || UInt64(fragments.count) + length > UInt64(maxMessageBytes) {
            throw violation(WebSocketCloseCode.tooBig, "message over \(maxMessageBytes) bytes")
        }
        guard input.count - offset >= 4 + Int(length) else { return nil }
        let mask = (input[offset], input[offset + 1], input[offset + 2], input[offset + 3])
        offset += 4
        var payload = [UInt8](repeating: 0, count: Int(length))
        for i in 0..<Int(length) {
            let m: UInt8
            switch i & 3 { case 0: m = mask.0; case 1: m = mask.1; case 2: m = mask.2; default: m = mask.3 }
            payload[i] = input[offset + i] ^ m
        }
        let end = offset + Int(length)
        switch opcode {
        case .ping: return (.ping(payload), end)
        case .pong: return (.pong(payload), end)
        case .close: return (try closeEvent(payload), end)
        case .continuation:
            guard let first = fragmentOpcode else { throw violation(WebSocketCloseCode.protocolError, "continuation frame without a message to continue") }
            fragments += payload
            guard fin else { return (nil, end) }
            let whole = fragments
            fragments = []
            fragmentOpcode = nil
            return (try message(first, whole), end)
        case .text, .binary:
            guard fragmentOpcode == nil else { throw violation(WebSocketCloseCode.protocolError, "a new message started before the fragmented one ended") }
            guard fin else {
                fragmentOpcode = opcode
                fragments = payload
                return (nil, end)
            }
            return (try message(opcode, payload), end)
        }
    }

    private func message(_ opcode: WebSocketOpcode, _ payload: [UInt8]) throws(WebSocketViolation) -> WebSocketEvent {
        guard opcode == .text else { return .binary(payload) }
        guard let s = String(validating: payload, as: UTF8.self) else { throw violation(WebSocketCloseCode.invalidPayload, "text message is not valid UTF-8") }
        return .text(s)
    }

    private func closeEvent(_ payload: [UInt8]) throws(WebSocketViolation) -> WebSocketEvent {
        if payload.isEmpty { return .close(nil, "") }
        guard payload.count >= 2 else { throw violation(WebSocketCloseCode.protocolError, "close payload of one byte") }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard WebSocketCloseCode.isValidReceived(code) else { throw violation(WebSocketCloseCode.protocolError, "close code \(code) may not be sent") }
        guard let reason = String(validating: payload[2...], as: UTF8.self) else { throw violation(WebSocketCloseCode.invalidPayload, "close reason is not valid UTF-8") }
        return .close(code, reason)
    }

    private func violation(_ code: UInt16, _ reason: String) -> WebSocketViolation { WebSocketViolation(code: code, reason: reason) }
}

public enum WebSocketEncoder {
    /// One unmasked, final server frame.
    public static func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x80 | opcode.rawValue]
        out.reserveCapacity(payload.count + 10)
        if payload.count < 126 {
            out.append(UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            out += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            out.append(127)
            for i in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: UInt64(payload.count) >> (UInt64(i) * 8))) }
        }
        return out + payload
    }

    /// A close frame with its status code and a reason cut to fit 125 bytes.
    public static func close(_ code: UInt16, _ reason: String) -> [UInt8] {
        var payload = [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8.prefix(123))
        while String(validating: payload[2...], as: UTF8.self) == nil { payload.removeLast() }
        return frame(.close, payload)
    }
}

/// The opening handshake (RFC 6455 4.2): which requests are upgrades and the
/// accept key the 101 carries.
public enum WebSocketHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    public static func acceptKey(_ key: String) -> String {
        base64(SHA1.hash(Array((key + guid).utf8)))
    }

    /// Nil when `request` is a valid version-13 upgrade; otherwise why not.
    public static func problem(_ request: HTTPRequest) -> String? {
        guard request.method == "GET", request.version == 11 else { return "a WebSocket upgrade must be an HTTP/1.1 GET" }
        let upgrade = request.headers["upgrade"]?.lowercased() ?? ""
        guard upgrade.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == "websocket" }) else { return "Upgrade: websocket is required" }
        let connection = request.headers["connection"]?.lowercased() ?? ""
        guard connection.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == "upgrade" }) else { return "Connection: Upgrade is required" }
        guard request.headers["sec-websocket-version"]?.trimmingCharacters(in: .whitespaces) == "13" else { return "Sec-WebSocket-Version: 13 is required" }
        guard let key = request.headers["sec-websocket-key"]?.trimmingCharacters(in: .whitespaces), decodedLength(key) == 16 else {
            return "Sec-WebSocket-Key must be 16 bytes in base64"
        }
        return nil
    }

    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func base64(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            let b0 = bytes[i], b1 = n > 1 ? bytes[i + 1] : 0, b2 = n > 2 ? bytes[i + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 3) << 4 | b1 >> 4)])
            out.append(n > 1 ? alphabet[Int((b1 & 15) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(n > 2 ? alphabet[Int(b2 & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decodedLength(_ s: String) -> Int? {
        let u = Array(s.utf8)
        guard u.count % 4 == 0, !u.isEmpty else { return nil }
        let pad = u.reversed().prefix { $0 == UInt8(ascii: "=") }.count
        guard pad <= 2, u.dropLast(pad).allSatisfy({ alphabet.contains($0) }) else { return nil }
        return u.count / 4 * 3 - pad
    }
}
