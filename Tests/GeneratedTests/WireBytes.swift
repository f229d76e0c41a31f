// Hand-made wire bytes for tests: just enough to spell inputs readably.

func varint(_ v: UInt64) -> [UInt8] {
    var v = v
    var out: [UInt8] = []
    while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
    out.append(UInt8(v))
    return out
}

func tag(_ field: Int, _ wireType: Int) -> [UInt8] { varint(UInt64(field << 3 | wireType)) }
func varintField(_ field: Int, _ v: UInt64) -> [UInt8] { tag(field, 0) + varint(v) }
func lenField(_ field: Int, _ payload: [UInt8]) -> [UInt8] { tag(field, 2) + varint(UInt64(payload.count)) + payload }
func stringField(_ field: Int, _ s: String) -> [UInt8] { lenField(field, Array(s.utf8)) }
func fixed32Field(_ field: Int, _ v: UInt32) -> [UInt8] { tag(field, 5) + withUnsafeBytes(of: v.littleEndian, Array.init) }
func fixed64Field(_ field: Int, _ v: UInt64) -> [UInt8] { tag(field, 1) + withUnsafeBytes(of: v.littleEndian, Array.init) }
