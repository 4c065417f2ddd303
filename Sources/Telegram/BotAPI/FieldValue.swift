import Core

/// One top-level field of a method's parameters as a multipart form sends it: text as it is,
/// numbers and booleans as their JSON spelling, objects and arrays as JSON text.
enum FieldValue: Decodable {
    case null
    case text(String)
    case json(JSONValue)

    init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        switch value {
        case .null: self = .null
        case .string(let text): self = .text(text)
        case .bool(let flag): self = .text(flag ? "true" : "false")
        case .int(let number): self = .text(String(number))
        case .double(let number): self = .text(String(number))
        case .array, .object: self = .json(value)
        }
    }
}
