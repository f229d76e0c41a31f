import Foundation
import Generated
import HTTPServer
import ProtoWire

/// Content negotiation for handlers that take and return generated messages:
/// JSON by default, `application/x-protobuf` by Content-Type / Accept.
public enum MessageIO {
    static let protobuf = "application/x-protobuf"
    /// REST bodies: every field present (stable shapes), 64-bit integers as
    /// numbers and enum values by their wire words, as the spec documents them.
    public static let restOut = JSONEncodingOptions(emitDefaultValues: true, int64AsNumbers: true, typeRegistry: GeneratedTypes.registry, enumWireWords: true)
    /// REST requests: names, numbers and wire words are all accepted for enums.
    public static let restIn = JSONDecodingOptions(typeRegistry: GeneratedTypes.registry, acceptEnumWireWords: true)

    /// The media type of a Content-Type value, lowercased, without parameters (byte-wise: this runs on every request).
    static func mediaType(_ value: String?) -> String? {
        guard let value else { return nil }
        if value == "application/json" { return value }
        let bytes = value.utf8.prefix { $0 != UInt8(ascii: ";") }
        var lo = bytes.startIndex, hi = bytes.endIndex
        while lo < hi, bytes[lo] == 0x20 || bytes[lo] == 0x09 { lo = bytes.index(after: lo) }
        while hi > lo, bytes[bytes.index(before: hi)] == 0x20 || bytes[bytes.index(before: hi)] == 0x09 { hi = bytes.index(before: hi) }
        return String(decoding: bytes[lo..<hi].map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 32 : $0 }, as: UTF8.self)
    }

    public static func decode<M: ProtoMessage>(_ type: M.Type, from request: HTTPRequest) throws -> M {
        let contentType = mediaType(request.headers["content-type"]) ?? "application/json"
        switch contentType {
        case protobuf:
            do { return try M(serializedBytes: request.body) } catch { throw ServiceError.invalidRequest("invalid protobuf body: \(error)") }
        case "application/json", "":
            if request.body.isEmpty { return M() }
            do { return try M(jsonBytes: request.body, options: restIn) } catch { throw ServiceError.invalidRequest("invalid JSON body: \(error)") }
        default:
            throw ServiceError(415, "invalid_request", "unsupported content type \(contentType); use application/json or \(protobuf)")
        }
    }

    /// Content-Type is JSON (or absent).
    public static func isJSON(_ request: HTTPRequest) -> Bool {
        let t = mediaType(request.headers["content-type"]) ?? ""
        return t.isEmpty || t == "application/json"
    }

    /// Accept names protobuf and not JSON.
    public static func wantsProtobuf(_ request: HTTPRequest) -> Bool {
        guard let accept = request.headers["accept"] else { return false }
        let a = accept.utf8
        func has(_ s: String) -> Bool { a.count >= s.utf8.count && a.indices.contains { a[$0...].starts(with: s.utf8) } }
        return has(protobuf) && !has("application/json")
    }

    /// Encodes `message` as the client asked: JSON with 64-bit integers as numbers
    /// (as the service promises) and every field present, so response shapes are stable.
    public static func respond<M: ProtoMessage>(_ status: Int, _ message: M, to request: HTTPRequest) -> HTTPResponse {
        if wantsProtobuf(request) {
            return HTTPResponse(status: status, headers: HTTPHeaders([("content-type", protobuf)]), body: message.serializedBytes())
        }
        do {
            return .json(status, try message.jsonBytes(options: restOut))
        } catch {
            return ServiceError(500, "internal_error", "response encoding failed: \(error)").response
        }
    }
}
