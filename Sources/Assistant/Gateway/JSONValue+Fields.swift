import Core

/// Reading and replacing fields of a JSON object while keeping every other field (and its order)
/// as the client sent it: the gateway passes through what it does not understand (tools,
/// response_format, vendor extensions).
extension JSONValue {
    package subscript(field name: String) -> JSONValue? {
        guard case .object(let fields) = self else { return nil }
        return fields.first { $0.0 == name }?.1
    }

    /// Sets `name` (replacing it in place, or appending it); does nothing to a non-object.
    package mutating func set(_ name: String, _ value: JSONValue) {
        guard case .object(var fields) = self else { return }
        if let index = fields.firstIndex(where: { $0.0 == name }) {
            fields[index].1 = value
        } else {
            fields.append((name, value))
        }
        self = .object(fields)
    }

    package var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    package var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    package var arrayValue: [JSONValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    package var isObject: Bool {
        if case .object = self { return true }
        return false
    }
}
