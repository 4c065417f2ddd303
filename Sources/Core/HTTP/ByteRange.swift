import Foundation

/// One `Range: bytes=…` request header (RFC 9110 §14.1.2) against a file of `size` bytes:
/// `a-b`, `a-` or the suffix `-n`. Several ranges, or another unit, are not parsed (nil): the
/// server may then send the whole file with 200, as the RFC allows.
package enum ByteRange: Equatable, Sendable {
    /// What to send, inclusive, already clamped to the file.
    case satisfiable(ClosedRange<Int64>)
    /// Starts at or past the end (416, with `Content-Range: bytes */size`).
    case unsatisfiable

    package static func parse(_ header: String, size: Int64) -> ByteRange? {
        let value = header.trimmingCharacters(in: .whitespaces)
        guard value.lowercased().hasPrefix("bytes="), !value.contains(",") else { return nil }
        let spec = value.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        guard first.allSatisfy(\.isASCIIDigit), last.allSatisfy(\.isASCIIDigit), first.count <= 18, last.count <= 18 else { return nil }
        if first.isEmpty {
            // The last n bytes.
            guard let count = Int64(last), count > 0 else { return last.isEmpty ? nil : .unsatisfiable }
            guard size > 0 else { return .unsatisfiable }
            return .satisfiable(max(0, size - count)...(size - 1))
        }
        guard let start = Int64(first) else { return nil }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .satisfiable(start...(size - 1)) }
        guard let end = Int64(last), end >= start else { return nil }
        return .satisfiable(start...min(end, size - 1))
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
