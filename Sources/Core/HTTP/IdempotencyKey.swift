import HTTPTypes
import Hummingbird

/// The `Idempotency-Key` request header, checked once for every route that takes it.
///
/// A key is 1 to 255 printable ASCII characters (a UUID is typical). Keys are stored in unique
/// indexes: a longer or binary one could pass PostgreSQL's index-row limit or its text rules and
/// end the request in a 500, and cutting it short silently could make two different keys equal.
package enum IdempotencyKey {
    package static let header = HTTPField.Name("Idempotency-Key")!
    package static let maxLength = 255

    /// The request's key, or nil when it sends none (an empty header, which some clients send
    /// when no key is set, is none); a 422 naming the header when it is not valid.
    package static func from(_ request: Request) throws -> String? {
        guard let value = request.headers[header], !value.isEmpty else { return nil }
        guard value.utf8.count <= maxLength, value.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            throw AppError.validation(field: "Idempotency-Key", "must be 1 to \(maxLength) printable ASCII characters, such as a UUID")
        }
        return value
    }
}
