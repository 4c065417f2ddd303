/// Reads simple JSON documents token by token: objects, arrays, strings without escapes, numbers,
/// booleans and null. It reads back what `JSONObjectWriter` writes for a job (read once per
/// claimed job, where `JSONDecoder` cost more than the rest of decoding the row) and answers nil
/// at anything else, escapes included, so the caller falls back to `JSONDecoder`, which reads
/// all of JSON. It never guesses: a nil means "not read here", not "empty".
package struct JSONScanner {
    private let bytes: [UInt8]
    private var index = 0

    package init(_ text: String) {
        bytes = Array(text.utf8)
    }

    /// Reads raw bytes, such as a request's body (strings that are not valid UTF-8 are declined).
    package init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// True when only whitespace is left.
    package mutating func atEnd() -> Bool {
        skipSpace()
        return index == bytes.count
    }

    /// Consumes `{` (or `[`); false when something else comes next.
    package mutating func beginObject() -> Bool { consume(UInt8(ascii: "{")) }
    package mutating func beginArray() -> Bool { consume(UInt8(ascii: "[")) }

    /// The next key of the object being read, with its `:` consumed; nil at the object's end (its
    /// `}` consumed) or on anything malformed (check `failed`).
    package mutating func nextKey(first: Bool) -> String? {
        if consume(UInt8(ascii: "}")) { return nil }
        if !first && !consume(UInt8(ascii: ",")) {
            failed = true
            return nil
        }
        guard let key = string(), consume(UInt8(ascii: ":")) else {
            failed = true
            return nil
        }
        return key
    }

    /// Whether the array being read has another element (its `,` consumed); false at its end
    /// (its `]` consumed) or on anything malformed (check `failed`).
    package mutating func nextElement(first: Bool) -> Bool {
        if consume(UInt8(ascii: "]")) { return false }
        if !first && !consume(UInt8(ascii: ",")) {
            failed = true
            return false
        }
        return true
    }

    /// Set when `nextKey` or `nextElement` stopped on something malformed rather than at the end.
    package private(set) var failed = false

    /// Consumes `null`.
    package mutating func null() -> Bool { literal("null") }

    /// `true` or `false` (nil for anything else).
    package mutating func bool() -> Bool? {
        if literal("true") { return true }
        if literal("false") { return false }
        return nil
    }

    /// A string with no escapes in it (nil for anything else).
    package mutating func string() -> String? {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        var end = start
        while end < bytes.count {
            let byte = bytes[end]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            end += 1
        }
        guard end < bytes.count, let text = String(validating: bytes[start..<end], as: UTF8.self) else { return nil }
        index = end + 1
        return text
    }

    /// A whole number that fits in an Int64 (nil for fractions, exponents, or anything else).
    package mutating func int() -> Int64? {
        skipSpace()
        let start = index
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let digits = index
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
        // JSON has no leading zeros ("007"); 18 digits always fit.
        guard index > digits, index - digits <= 18, index - digits == 1 || bytes[digits] != UInt8(ascii: "0") else {
            index = start
            return nil
        }
        if index < bytes.count, Self.isNumberByte(bytes[index]) {
            index = start
            return nil
        }
        var value: Int64 = 0
        for byte in bytes[digits..<index] { value = value * 10 + Int64(byte - UInt8(ascii: "0")) }
        return bytes[start] == UInt8(ascii: "-") ? -value : value
    }

    /// Any JSON number, as the standard library reads it (nil for what JSON does not allow, such
    /// as "+1", ".5", "1." or "01", which `Double` alone would take).
    package mutating func double() -> Double? {
        skipSpace()
        let start = index
        while index < bytes.count, Self.isNumberByte(bytes[index]) { index += 1 }
        guard index > start, Self.isJSONNumber(bytes[start..<index]),
            let value = Double(String(decoding: bytes[start..<index], as: UTF8.self)), value.isFinite
        else {
            index = start
            return nil
        }
        return value
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, JSON's number grammar.
    static func isJSONNumber(_ text: ArraySlice<UInt8>) -> Bool {
        var i = text.startIndex
        func digits() -> Int {
            let from = i
            while i < text.endIndex, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[i]) { i += 1 }
            return i - from
        }
        if i < text.endIndex, text[i] == UInt8(ascii: "-") { i += 1 }
        let integerStart = i
        let integerDigits = digits()
        guard integerDigits > 0, integerDigits == 1 || text[integerStart] != UInt8(ascii: "0") else { return false }
        if i < text.endIndex, text[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return false }
        }
        if i < text.endIndex, text[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            if i < text.endIndex, text[i] == UInt8(ascii: "+") || text[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == text.endIndex
    }

    static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"):
            true
        default: false
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        skipSpace()
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        let matches = word.withUTF8Buffer { $0.elementsEqual(bytes[index..<index + count]) }
        if matches { index += count }
        return matches
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }
}
