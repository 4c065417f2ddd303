import Foundation

/// A request body whose fields have bounds. `Request.decodeJSON` calls `checkBounds()` on every
/// body it decodes, so an over-long field is refused before any handler stores it: the body
/// limit caps a request, but not the rows it leaves behind for every later list to carry.
package protocol BoundedInput {
    /// Throws a 422 naming the first field over its bound.
    func checkBounds() throws
}

/// The checks behind `BoundedInput`. Lengths count Unicode code points, as JSON Schema's
/// `maxLength` does (a grapheme count would let one letter carry megabytes of combining marks).
package enum Bounded {
    /// `field` of at most `max` characters (nil passes).
    package static func text(_ value: String?, field: String, max: Int) throws {
        guard let value, value.utf8.count > max else { return }  // UTF-8 bytes ≥ code points
        let count = value.unicodeScalars.count
        guard count <= max else { throw AppError.validation(field: field, "must be at most \(max) characters (got \(count))") }
    }

    /// `field` with at most `max` items (nil passes).
    package static func items(_ value: (some Collection)?, field: String, max: Int) throws {
        guard let value, value.count > max else { return }
        throw AppError.validation(field: field, "must have at most \(max) items (got \(value.count))")
    }

    /// A list of at most `maxItems` texts of at most `maxLength` characters each; an over-long
    /// one is named with its index (`models[3]`).
    package static func texts(_ values: [String]?, field: String, maxItems: Int, maxLength: Int) throws {
        guard let values else { return }
        try items(values, field: field, max: maxItems)
        for (index, value) in values.enumerated() { try text(value, field: "\(field)[\(index)]", max: maxLength) }
    }

    /// Nested JSON stored as it came (a workflow, extra parameters): at most `maxBytes` once
    /// written out compactly.
    package static func json(_ value: JSONValue?, field: String, maxBytes: Int) throws {
        guard let value else { return }
        let size = (try? value.jsonData().count) ?? Int.max
        guard size <= maxBytes else {
            throw AppError.validation(field: field, "must be at most \(maxBytes) bytes of JSON (got \(size == .max ? "more" : String(size)))")
        }
    }
}
