extension StringProtocol {
    /// The text without leading and trailing whitespace and newlines (Unicode White_Space).
    /// Foundation's `trimmingCharacters(in:)` bridges through NSString, which showed up at a few
    /// percent of an enqueue request's CPU.
    public var trimmingWhitespace: String {
        var start = startIndex
        var end = endIndex
        while start < end, self[start].isWhitespace { start = index(after: start) }
        while end > start, self[index(before: end)].isWhitespace { end = index(before: end) }
        return String(self[start..<end])
    }
}
