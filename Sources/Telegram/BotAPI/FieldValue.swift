/// One top-level field of a method's parameters as a multipart form sends it: text as it is,
/// numbers and booleans as their JSON spelling, objects and arrays as JSON text.
enum FieldValue: Decodable {
    case null
    case text(String)
    case json(AnyJSON)

    init(from decoder: any Decoder) throws {
        let value = try AnyJSON(from: decoder)
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

/// Any JSON value, decoded and written back unchanged (for fields passed through as JSON text).
indirect enum AnyJSON: Codable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([AnyJSON])
    case object([String: AnyJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Int64.self) {
            self = .int(number)
        } else if let number = try? container.decode(Double.self) {
            self = .double(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let items = try? container.decode([AnyJSON].self) {
            self = .array(items)
        } else {
            self = .object(try container.decode([String: AnyJSON].self))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let flag): try container.encode(flag)
        case .int(let number): try container.encode(number)
        case .double(let number): try container.encode(number)
        case .string(let text): try container.encode(text)
        case .array(let items): try container.encode(items)
        case .object(let fields): try container.encode(fields)
        }
    }
}
