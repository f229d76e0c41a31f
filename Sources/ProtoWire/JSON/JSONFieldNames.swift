#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Maps JSON member names (both the JSON name and the proto name of each
/// field) to a field slot, by bytes, without building a String per key.
/// Each generated message has one, built once and kept for the process's
/// life: names live in one flat buffer, probed by an open-addressing table.
public final class JSONFieldNames: @unchecked Sendable {
    // Immutable after init; never freed (one per message type, static lifetime).
    @usableFromInline let bytes: UnsafeMutablePointer<UInt8>
    /// Per table slot: offset into `bytes`, name length, field slot; length -1 when empty.
    @usableFromInline let table: UnsafeMutablePointer<(offset: Int32, count: Int32, slot: Int32)>
    @usableFromInline let mask: Int

    public init(_ pairs: [(String, Int)]) {
        let total = pairs.reduce(0) { $0 + $1.0.utf8.count }
        bytes = .allocate(capacity: max(total, 1))
        var size = 8
        while size < pairs.count * 2 { size *= 2 }
        table = .allocate(capacity: size)
        table.initialize(repeating: (0, -1, -1), count: size)
        mask = size - 1
        var offset = 0
        for (name, slot) in pairs {
            let utf8 = Array(name.utf8)
            (bytes + offset).update(from: utf8, count: utf8.count)
            let key = UnsafeBufferPointer(start: bytes + offset, count: utf8.count)
            if self.slot(key) < 0 {
                var h = JSONFieldNames.hash(key) & mask
                while table[h].count >= 0 { h = (h + 1) & mask }
                table[h] = (Int32(offset), Int32(utf8.count), Int32(slot))
            }
            offset += utf8.count
        }
    }

    @inlinable @inline(__always)
    static func hash(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt32 = 2_166_136_261
        for b in key { h = (h ^ UInt32(b)) &* 16_777_619 }
        return Int(h)
    }

    /// The slot of `key`, or -1.
    @inlinable
    public func slot(_ key: UnsafeBufferPointer<UInt8>) -> Int {
        var h = JSONFieldNames.hash(key) & mask
        while true {
            let e = table[h]
            if e.count < 0 { return -1 }
            if Int(e.count) == key.count && (key.count == 0 || memcmp(bytes + Int(e.offset), key.baseAddress!, key.count) == 0) {
                return Int(e.slot)
            }
            h = (h + 1) & mask
        }
    }
}
