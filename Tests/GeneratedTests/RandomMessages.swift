import Generated
import TestContracts
import TestSupport

/// Random values biased towards the edges the wire format cares about.
struct Arbitrary {
    var rng: SeededRandom

    mutating func bool() -> Bool { rng.next() & 1 == 1 }
    mutating func chance(_ oneIn: UInt64) -> Bool { rng.next() % oneIn == 0 }
    mutating func count(_ max: Int) -> Int { Int(rng.next() % UInt64(max + 1)) }

    mutating func u64() -> UInt64 {
        switch rng.next() % 6 {
        case 0: return 0
        case 1: return UInt64.max
        case 2: return rng.next() % 128
        case 3: return 1 << (rng.next() % 64)
        default: return rng.next()
        }
    }
    mutating func i64() -> Int64 { Int64(bitPattern: u64()) }
    mutating func u32() -> UInt32 { UInt32(truncatingIfNeeded: u64()) }
    mutating func i32() -> Int32 { Int32(truncatingIfNeeded: u64()) }
    mutating func double() -> Double {
        switch rng.next() % 6 {
        case 0: return 0
        case 1: return -0.0
        case 2: return .infinity
        case 3: return -Double.greatestFiniteMagnitude
        default: return Double(i32()) / 7
        }
    }
    mutating func float() -> Float { Float(double()) }

    mutating func string() -> String {
        let pieces = ["a", "é", "中文", "🙂", "\"", "\\", "\n", "\u{0}", "\u{7F}", "\u{FFFF}", "\u{10FFFF}", "word "]
        return (0..<count(6)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined()
    }
    mutating func bytes() -> [UInt8] { (0..<count(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }

    mutating func color() -> FixturesV1.Color {
        [FixturesV1.Color.unspecified, .red, .green, .unrecognized(Int32(truncatingIfNeeded: rng.next() % 1000) - 500)][Int(rng.next() % 4)]
    }

    mutating func nested() -> FixturesV1.AllTypes.Nested {
        var n = FixturesV1.AllTypes.Nested()
        n.a = i32()
        n.b = (0..<count(3)).map { _ in i32() }
        n.c = string()
        return n
    }

    mutating func value(depth: Int = 0) -> GoogleProtobuf.Value {
        var v = GoogleProtobuf.Value()
        switch rng.next() % (depth > 2 ? 4 : 6) {
        case 0: v.kind = .nullValue(.nullValue)
        case 1: v.kind = .numberValue(double())
        case 2: v.kind = .stringValue(string())
        case 3: v.kind = .boolValue(bool())
        case 4: v.kind = .structValue(structValue(depth: depth + 1))
        default:
            var list = GoogleProtobuf.ListValue()
            list.values = (0..<count(3)).map { _ in value(depth: depth + 1) }
            v.kind = .listValue(list)
        }
        return v
    }

    mutating func structValue(depth: Int = 0) -> GoogleProtobuf.Struct {
        var s = GoogleProtobuf.Struct()
        for _ in 0..<count(3) { s.fields[string()] = value(depth: depth) }
        return s
    }

    mutating func allTypes() -> FixturesV1.AllTypes {
        var m = FixturesV1.AllTypes()
        if bool() { m.fDouble = double() }
        if bool() { m.fFloat = float() }
        if bool() { m.fInt64 = i64() }
        if bool() { m.fUint64 = u64() }
        if bool() { m.fInt32 = i32() }
        if bool() { m.fFixed64 = u64() }
        if bool() { m.fFixed32 = u32() }
        if bool() { m.fBool = bool() }
        if bool() { m.fString = string() }
        if bool() { m.fBytes = bytes() }
        if bool() { m.fUint32 = u32() }
        if bool() { m.fSfixed32 = i32() }
        if bool() { m.fSfixed64 = i64() }
        if bool() { m.fSint32 = i32() }
        if bool() { m.fSint64 = i64() }
        if bool() { m.fEnum = color() }
        if bool() { m.fMessage = nested() }
        if bool() { m.oInt32 = i32() }
        if bool() { m.oString = string() }
        if bool() { m.oEnum = color() }
        if bool() { m.oDouble = double() }
        m.rDouble = (0..<count(4)).map { _ in double() }
        m.rFloat = (0..<count(4)).map { _ in float() }
        m.rInt64 = (0..<count(4)).map { _ in i64() }
        m.rUint64 = (0..<count(4)).map { _ in u64() }
        m.rInt32 = (0..<count(4)).map { _ in i32() }
        m.rFixed64 = (0..<count(4)).map { _ in u64() }
        m.rFixed32 = (0..<count(4)).map { _ in u32() }
        m.rBool = (0..<count(4)).map { _ in bool() }
        m.rString = (0..<count(4)).map { _ in string() }
        m.rBytes = (0..<count(4)).map { _ in bytes() }
        m.rUint32 = (0..<count(4)).map { _ in u32() }
        m.rSfixed32 = (0..<count(4)).map { _ in i32() }
        m.rSfixed64 = (0..<count(4)).map { _ in i64() }
        m.rSint32 = (0..<count(4)).map { _ in i32() }
        m.rSint64 = (0..<count(4)).map { _ in i64() }
        m.rEnum = (0..<count(4)).map { _ in color() }
        m.rMessage = (0..<count(3)).map { _ in nested() }
        m.rUnpacked = (0..<count(4)).map { _ in i32() }
        for _ in 0..<count(3) { m.mString[string()] = string() }
        for _ in 0..<count(3) { m.mMessage[i32()] = nested() }
        for _ in 0..<count(2) { m.mEnum[bool()] = color() }
        for _ in 0..<count(3) { m.mBytes[i64()] = bytes() }
        for _ in 0..<count(3) { m.mDouble[u32()] = double() }
        for _ in 0..<count(3) { m.mSint[i64()] = i32() }
        for _ in 0..<count(3) { m.mFixed[u32()] = bool() }
        switch rng.next() % 5 {
        case 0: m.choice = .cString(string())
        case 1: m.choice = .cMessage(nested())
        case 2: m.choice = .cInt64(i64())
        case 3: m.choice = .cEnum(color())
        default: break
        }
        if bool() { m.fStruct = structValue() }
        if bool() {
            var t = GoogleProtobuf.Timestamp()
            t.seconds = i64()
            t.nanos = i32()
            m.fTimestamp = t
        }
        return m
    }
}
