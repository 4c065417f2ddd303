import Core

/// Writes one JSON object field by field, for the few documents written once per job (a job's
/// parameters when it is queued, its result when it ends). Foundation's `JSONEncoder` goes through
/// `Codable`'s boxed containers and cost about 3 % of the machine in the end-to-end queue
/// benchmark; this writes the same JSON (optional fields left out when nil, as synthesized
/// `Codable` does) straight into a byte buffer. Anything `JSONDecoder` reads back is fine: tests
/// decode what it writes.
package struct JSONObjectWriter {
    private var bytes: [UInt8]
    private var first = true

    package init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// The finished object.
    package consuming func text() -> String {
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    package mutating func field(_ key: StaticString, _ value: String) {
        name(key)
        Self.append(string: value, to: &bytes)
    }

    package mutating func field(_ key: StaticString, _ value: String?) {
        if let value { field(key, value) }
    }

    package mutating func field(_ key: StaticString, _ value: Int64) {
        name(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    package mutating func field(_ key: StaticString, _ value: Int64?) {
        if let value { field(key, value) }
    }

    package mutating func field(_ key: StaticString, _ value: Int) {
        field(key, Int64(value))
    }

    /// A finite number as Swift prints it (shortest form that reads back the same; `1.0`, `0.75`,
    /// `1e-05`), all valid JSON. JSON has no NaN or infinity: those are written as null, which
    /// reads back as a missing value rather than failing the whole document.
    package mutating func field(_ key: StaticString, _ value: Double?) {
        guard let value else { return }
        name(key)
        if value.isFinite { bytes.append(contentsOf: value.description.utf8) } else { bytes.append(contentsOf: "null".utf8) }
    }

    package mutating func field(_ key: StaticString, strings values: [String]) {
        name(key)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.append(string: value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// An array of objects, each written by `write` into its own writer.
    package mutating func field<Element>(_ key: StaticString, objects values: [Element], _ write: (inout JSONObjectWriter, Element) -> Void) {
        name(key)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            var object = JSONObjectWriter(capacity: 64)
            write(&object, value)
            object.bytes.append(UInt8(ascii: "}"))
            bytes.append(contentsOf: object.bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    private mutating func name(_ key: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`, and
    /// everything else (all of Unicode) as its UTF-8 bytes, which JSON allows.
    static func append(string: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case ..<0x20:
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(Hex.digits[Int(byte >> 4)])
                bytes.append(Hex.digits[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
