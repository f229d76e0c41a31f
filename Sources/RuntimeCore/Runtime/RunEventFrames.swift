import Generated
import ProtoWire

/// The stream's wire form of a run event, framed once and shared by every
/// reader: `event: message`, `id:` = seq, `data:` = the event's REST JSON.
public enum RunEventFrames {
    static let eventOptions = JSONEncodingOptions(emitDefaultValues: true, int64AsNumbers: true, deterministic: true, enumWireWords: true)

    public static func frame(_ e: RuntimeV1.RuntimeRunEvent) -> [UInt8] {
        let json = (try? e.jsonBytes(options: eventOptions)) ?? Array("{}".utf8)
        return Array("event: message\nid: \(e.seq)\ndata: ".utf8) + json + [0x0A, 0x0A]
    }

    public static func isTerminal(_ s: RuntimeV1.RuntimeRunStatus) -> Bool { s == .succeeded || s == .failed || s == .canceled }
}
