extension StringProtocol {
    /// Without leading and trailing whitespace (tab and Unicode space
    /// separators, Foundation's `.whitespaces`), but without Foundation's cost:
    /// a string with nothing to trim (the common case) is returned as it is.
    public var whitespaceTrimmed: String {
        @inline(__always) func isSpace(_ s: Unicode.Scalar) -> Bool {
            if s.value < 0x80 { return s == " " || s == "\t" }
            return s.properties.generalCategory == .spaceSeparator
        }
        let scalars = unicodeScalars
        guard let first = scalars.first, let last = scalars.last else { return "" }
        if !isSpace(first) && !isSpace(last) { return String(self) }
        var start = scalars.startIndex, end = scalars.endIndex
        while start < end && isSpace(scalars[start]) { start = scalars.index(after: start) }
        while end > start && isSpace(scalars[scalars.index(before: end)]) { end = scalars.index(before: end) }
        return String(String.UnicodeScalarView(scalars[start..<end]))
    }
}
