// JSON forms of the well-known types with special mappings. Generated code
// for google.protobuf.* calls these; the rules live (and are tested) here.

public enum WellKnownJSON {
    static let minTimestampSeconds: Int64 = -62_135_596_800  // 0001-01-01T00:00:00Z
    static let maxTimestampSeconds: Int64 = 253_402_300_799  // 9999-12-31T23:59:59Z
    static let maxDurationSeconds: Int64 = 315_576_000_000

    // MARK: Calendar (proleptic Gregorian, days since 1970-01-01)

    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }

    static func daysInMonth(_ y: Int64, _ m: Int64) -> Int64 {
        switch m {
        case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Fraction digits: 0, 3, 6 or 9, trailing zero groups trimmed.
    static func appendNanos(_ nanos: Int32, to s: inout String) {
        if nanos == 0 { return }
        var digits = String(nanos)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        if nanos % 1_000_000 == 0 { digits = String(digits.prefix(3)) } else if nanos % 1000 == 0 { digits = String(digits.prefix(6)) }
        s += "." + digits
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    // MARK: Timestamp

    public static func formatTimestamp(seconds: Int64, nanos: Int32) -> String? {
        guard seconds >= minTimestampSeconds, seconds <= maxTimestampSeconds, nanos >= 0, nanos <= 999_999_999 else { return nil }
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secOfDay = seconds - days * 86400
        let (y, m, d) = civilFromDays(days)
        var s = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secOfDay / 3600, 2)):\(pad(secOfDay / 60 % 60, 2)):\(pad(secOfDay % 60, 2))"
        appendNanos(nanos, to: &s)
        return s + "Z"
    }

    /// RFC 3339 with exact field widths, real calendar checks, `Z` or `±hh:mm`.
    public static func parseTimestamp(_ text: String) -> (seconds: Int64, nanos: Int32)? {
        Array(text.utf8).withUnsafeBufferPointer { parseTimestamp($0) }
    }

    public static func parseTimestamp(_ c: UnsafeBufferPointer<UInt8>) -> (seconds: Int64, nanos: Int32)? {
        var i = 0
        func num(_ width: Int) -> Int64? {
            guard i + width <= c.count else { return nil }
            var v: Int64 = 0
            for j in i..<(i + width) {
                guard c[j] >= 0x30 && c[j] <= 0x39 else { return nil }
                v = v * 10 + Int64(c[j] - 0x30)
            }
            i += width
            return v
        }
        func lit(_ ch: UInt8) -> Bool {
            guard i < c.count, c[i] == ch else { return false }
            i += 1
            return true
        }
        guard let y = num(4), lit(0x2D), let mo = num(2), lit(0x2D), let d = num(2), lit(UInt8(ascii: "T")),
              let h = num(2), lit(0x3A), let mi = num(2), lit(0x3A), let se = num(2) else { return nil }
        guard y >= 1, mo >= 1, mo <= 12, d >= 1, d <= daysInMonth(y, mo), h <= 23, mi <= 59, se <= 59 else { return nil }
        var nanos: Int64 = 0
        if lit(0x2E) {
            var digits = 0
            while i < c.count, c[i] >= 0x30, c[i] <= 0x39 {
                guard digits < 9 else { return nil }
                nanos = nanos * 10 + Int64(c[i] - 0x30)
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { nanos *= 10 }
        }
        var offset: Int64 = 0
        if lit(UInt8(ascii: "Z")) {
        } else if i < c.count, c[i] == 0x2B || c[i] == 0x2D {
            let sign: Int64 = c[i] == 0x2D ? -1 : 1
            i += 1
            guard let oh = num(2), lit(0x3A), let om = num(2), oh <= 23, om <= 59 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == c.count else { return nil }
        let seconds = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - offset
        guard seconds >= minTimestampSeconds, seconds <= maxTimestampSeconds else { return nil }
        return (seconds, Int32(nanos))
    }

    // MARK: Duration

    public static func formatDuration(seconds: Int64, nanos: Int32) -> String? {
        guard abs(seconds) <= maxDurationSeconds, abs(nanos) <= 999_999_999,
              seconds == 0 || nanos == 0 || (seconds < 0) == (nanos < 0) else { return nil }
        var s = (seconds < 0 || nanos < 0) ? "-" : ""
        s += String(abs(seconds))
        appendNanos(abs(nanos), to: &s)
        return s + "s"
    }

    public static func parseDuration(_ text: String) -> (seconds: Int64, nanos: Int32)? {
        var c = Array(text.utf8)
        guard c.last == UInt8(ascii: "s") else { return nil }
        c.removeLast()
        var negative = false
        if c.first == 0x2D { negative = true; c.removeFirst() }
        guard let first = c.first, first >= 0x30, first <= 0x39 else { return nil }
        var seconds: Int64 = 0
        var i = 0
        while i < c.count, c[i] >= 0x30, c[i] <= 0x39 {
            seconds = seconds * 10 + Int64(c[i] - 0x30)
            if seconds > maxDurationSeconds { return nil }
            i += 1
        }
        var nanos: Int64 = 0
        if i < c.count {
            guard c[i] == 0x2E else { return nil }
            i += 1
            var digits = 0
            while i < c.count, c[i] >= 0x30, c[i] <= 0x39, digits < 9 {
                nanos = nanos * 10 + Int64(c[i] - 0x30)
                digits += 1
                i += 1
            }
            guard digits > 0, i == c.count else { return nil }
            for _ in digits..<9 { nanos *= 10 }
        }
        return negative ? (-seconds, Int32(-nanos)) : (seconds, Int32(nanos))
    }

    // MARK: FieldMask

    /// `foo_bar.baz` -> `fooBar.baz`; nil when the path would not round-trip.
    public static func fieldMaskPathToJSON(_ path: String) -> String? {
        var out = ""
        var upper = false
        var prev: Character = " "
        for ch in path {
            if ch.isUppercase { return nil }
            if ch == "_" {
                if upper || prev == "_" { return nil }
                upper = true
                prev = ch
                continue
            }
            if upper {
                if !ch.isLetter { return nil }
                out += ch.uppercased()
                upper = false
            } else {
                out.append(ch)
            }
            prev = ch
        }
        if upper { return nil }
        return out
    }

    public static func fieldMaskPathFromJSON(_ path: String) -> String? {
        var out = ""
        for ch in path {
            if ch == "_" { return nil }
            if ch.isUppercase { out += "_" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }
}
