import APIRuntime
import Foundation
import ProtoWire

/// HS256 JSON Web Tokens (RFC 7519 with RFC 7515's compact form): the control
/// service's session tokens and the Khala sync tokens. Only HS256 is accepted
/// (a token naming another `alg`, `none` included, is refused before its MAC
/// is looked at); MACs are compared in constant time.
public enum JWT {
    /// `b64url(header).b64url(claims).b64url(HMAC-SHA256(key, first two))`, no padding.
    public static func sign(claims: [UInt8], key: [UInt8], kid: String? = nil) -> String {
        var header = #"{"alg":"HS256","typ":"JWT""#
        if let kid { header += #","kid":"# + quote(kid) }
        header += "}"
        let signingInput = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(claims)
        return signingInput + "." + Base64URL.encode(HMACSHA256.mac(key: key, message: Array(signingInput.utf8)))
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// Why a token was refused, most specific first.
    public enum Failure: Error, Equatable, Sendable {
        /// Not three base64url parts, or a header that is not JSON.
        case malformed
        /// A header naming another algorithm than HS256.
        case unsupportedAlgorithm(String)
        /// The MAC does not match.
        case badSignature
    }

    /// The claims bytes of a token whose header and MAC hold (the caller decodes and checks the claims).
    public static func verify(_ token: String, key: [UInt8]) throws(Failure) -> [UInt8] {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let claims = Base64URL.decode(parts[1]),
              let mac = Base64URL.decode(parts[2]) else { throw .malformed }
        guard let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else { throw .malformed }
        guard let alg = header["alg"] as? String, alg == "HS256" else { throw .unsupportedAlgorithm("\(header["alg"] ?? "none")") }
        let expected = HMACSHA256.mac(key: key, message: Array((parts[0] + "." + parts[1]).utf8))
        guard HMACSHA256.constantTimeEqual(expected, mac) else { throw .badSignature }
        return claims
    }
}

/// A secret from the environment, or one created once in the data directory
/// (mode 0600, 32 random bytes as hex) and reused after restarts, so every
/// process on that directory (serve, the token CLI) agrees on it.
public enum SecretFile {
    public static func load(variable: String, file: String, environment: [String: String], dataDirectory: String) throws -> [UInt8] {
        if let s = environment[variable], !s.isEmpty { return Array(s.utf8) }
        let path = dataDirectory + "/" + file
        if let data = FileManager.default.contents(atPath: path) {
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw APIError.internalError("\(path) is empty") }
            return Array(text.utf8)
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        // SystemRandomNumberGenerator is the kernel's CSPRNG (getrandom) on Linux.
        var generator = SystemRandomNumberGenerator()
        let text = (0..<32).map { _ in String(UInt8.random(in: 0...255, using: &generator), radix: 16).leftPad(2) }.joined()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            // Another process created it first: use theirs.
            if errno == EEXIST { return try load(variable: variable, file: file, environment: environment, dataDirectory: dataDirectory) }
            throw APIError.internalError("cannot create \(path): \(FileIO.lastError())")
        }
        defer { close(fd) }
        guard FileIO.writeAll(fd, Array((text + "\n").utf8)), fsync(fd) == 0 else {
            throw APIError.internalError("cannot write \(path): \(FileIO.lastError())")
        }
        _ = FileIO.syncDirectory(of: path)
        return Array(text.utf8)
    }
}
