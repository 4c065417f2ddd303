extension StringProtocol {
    /// The text without leading and trailing whitespace and newlines (Unicode White_Space).
    /// Not Foundation's `trimmingCharacters(in:)`: its NSString bridging is too slow for the
    /// enqueue path (docs/BENCHMARKS.md, queue).
    package var trimmingWhitespace: String {
        var start = startIndex
        var end = endIndex
        while start < end, self[start].isWhitespace { start = index(after: start) }
        while end > start, self[index(before: end)].isWhitespace { end = index(before: end) }
        return String(self[start..<end])
    }
}
