// google.protobuf.Any in JSON: {"@type": url, ...fields} or, for well-known
// types with a special JSON form, {"@type": url, "value": <that form>}.

extension WellKnownJSON {
    /// Well-known types whose JSON is not an object of their fields.
    public static let specialJSONTypes: Set<String> = [
        "google.protobuf.Any", "google.protobuf.Duration", "google.protobuf.FieldMask", "google.protobuf.Struct",
        "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Timestamp",
        "google.protobuf.DoubleValue", "google.protobuf.FloatValue", "google.protobuf.Int64Value",
        "google.protobuf.UInt64Value", "google.protobuf.Int32Value", "google.protobuf.UInt32Value",
        "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
    ]

    static func decodeBinary<M: ProtoMessage>(_ type: M.Type, _ bytes: [UInt8]) throws(WireDecodingError) -> any ProtoMessage {
        try M(serializedBytes: bytes)
    }

    public static func encodeAny(typeURL: String, value: [UInt8], to w: inout JSONWriter) {
        if typeURL.isEmpty && value.isEmpty {
            w.beginObject()
            w.endObject()
            return
        }
        guard let type = w.options.typeRegistry?.type(forURL: typeURL) else {
            w.fail("Any: type \"\(typeURL)\" is not in the type registry")
            w.writeNull()
            return
        }
        let message: any ProtoMessage
        do { message = try decodeBinary(type, value) } catch {
            w.fail("Any: value is not a valid \(type.protoMessageName): \(error)")
            w.writeNull()
            return
        }
        w.beginObject()
        w.key("@type")
        w.writeString(typeURL)
        if specialJSONTypes.contains(type.protoMessageName) {
            w.key("value")
            message.encodeJSON(to: &w)
        } else {
            message.encodeJSONFields(to: &w)
        }
        w.endObject()
    }

    public static func decodeAny(from r: inout JSONReader, typeURL: inout String, value: inout [UInt8]) throws(JSONDecodingError) {
        let start = r.position
        // Pass 1: find @type, wherever it is in the object.
        var found: String?
        var more = try r.beginObject()
        if !more { typeURL = ""; value = []; return }
        while more {
            let key = try r.readKeyString()
            if key == "@type" {
                if found != nil { throw r.error("duplicate @type") }
                found = try r.readString()
            } else {
                try r.skipValue()
            }
            more = try r.nextMember()
        }
        guard let url = found else { throw r.error("Any: missing @type") }
        guard let type = r.options.typeRegistry?.type(forURL: url) else {
            throw r.error("Any: type \"\(url)\" is not in the type registry")
        }
        // Pass 2: decode the payload with the type, skipping @type.
        r.rewind(to: start)
        var message: any ProtoMessage = type.init()
        if specialJSONTypes.contains(type.protoMessageName) {
            var sawValue = false
            more = try r.beginObject()
            while more {
                let key = try r.readKeyString()
                if key == "@type" {
                    try r.skipValue()
                } else if key == "value" {
                    try message.decodeJSON(from: &r)
                    sawValue = true
                } else {
                    throw r.error("Any: unexpected member \"\(key)\" for \(type.protoMessageName)")
                }
                more = try r.nextMember()
            }
            if !sawValue { throw r.error("Any: missing value") }
        } else {
            let saved = r.anyTypeDepth
            r.anyTypeDepth = r.depthForNextObject
            try message.decodeJSON(from: &r)
            r.anyTypeDepth = saved
        }
        typeURL = url
        value = message.serializedBytes()
    }
}

extension JSONReader {
    /// The depth an object starting at the cursor will have.
    public var depthForNextObject: Int { depth + 1 }
}
