/// Small builders for the JSON Schema subset OpenAPI 3.1 uses, so route docs stay short.
package enum Schema {
    package static let string: JSONValue = ["type": "string"]
    package static let integer: JSONValue = ["type": "integer"]
    package static let number: JSONValue = ["type": "number"]
    package static let boolean: JSONValue = ["type": "boolean"]
    package static let dateTime: JSONValue = ["type": "string", "format": "date-time"]

    package static func string(
        minLength: Int? = nil,
        maxLength: Int? = nil,
        enum values: [String]? = nil,
        description: String? = nil
    ) -> JSONValue {
        var pairs: [(String, JSONValue)] = [("type", "string")]
        if let minLength { pairs.append(("minLength", .int(minLength))) }
        if let maxLength { pairs.append(("maxLength", .int(maxLength))) }
        if let values { pairs.append(("enum", .array(values.map { .string($0) }))) }
        if let description { pairs.append(("description", .string(description))) }
        return .object(pairs)
    }

    package static func integer(minimum: Int? = nil, maximum: Int? = nil) -> JSONValue {
        var pairs: [(String, JSONValue)] = [("type", "integer")]
        if let minimum { pairs.append(("minimum", .int(minimum))) }
        if let maximum { pairs.append(("maximum", .int(maximum))) }
        return .object(pairs)
    }

    /// `T | null`, the OpenAPI 3.1 way.
    package static func nullable(_ schema: JSONValue) -> JSONValue {
        ["oneOf": [schema, ["type": "null"]]]
    }

    package static func array(_ items: JSONValue) -> JSONValue { ["type": "array", "items": items] }

    /// An array with a bound on its length.
    package static func array(_ items: JSONValue, minItems: Int? = nil, maxItems: Int) -> JSONValue {
        var pairs: [(String, JSONValue)] = [("type", "array")]
        if let minItems { pairs.append(("minItems", .int(minItems))) }
        pairs.append(("maxItems", .int(maxItems)))
        pairs.append(("items", items))
        return .object(pairs)
    }

    package static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }

    package static func object(
        _ properties: [(String, JSONValue)],
        required: [String] = [],
        additionalProperties: Bool = true
    ) -> JSONValue {
        var pairs: [(String, JSONValue)] = [("type", "object"), ("properties", .object(properties))]
        if !required.isEmpty { pairs.append(("required", .array(required.map { .string($0) }))) }
        if !additionalProperties { pairs.append(("additionalProperties", false)) }
        return .object(pairs)
    }

    /// `{"items": [T], "next_cursor": string|null}`.
    package static func page(of item: JSONValue) -> JSONValue {
        object([("items", array(item)), ("next_cursor", nullable(string))], required: ["items", "next_cursor"])
    }

    package static let errorDetail: JSONValue = object([("detail", string)], required: ["detail"])
}
