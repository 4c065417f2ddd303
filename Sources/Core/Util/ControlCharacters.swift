extension StringProtocol {
    /// Whether the text holds a control character (NUL, a line break, …). Names and ids never
    /// do, and PostgreSQL refuses NUL in text, which would end a request in a 500.
    package var containsControlCharacters: Bool {
        unicodeScalars.contains { $0.properties.generalCategory == .control }
    }
}
