import HTTPTypes

/// Builds the OpenAPI 3.1 document from the registered routes. Every operation lists its success
/// responses and the error responses it can give, each with the `{"detail"}` body.
package enum OpenAPIDocument {
    package static func build(
        title: String,
        version: String,
        description: String,
        routes: [RegisteredRoute],
        schemas: [(String, JSONValue)]
    ) -> JSONValue {
        var paths: [(String, [(String, JSONValue)])] = []
        for route in routes {
            let operation = self.operation(route)
            let method = route.method.rawValue.lowercased()
            if let index = paths.firstIndex(where: { $0.0 == route.path }) {
                paths[index].1.append((method, operation))
            } else {
                paths.append((route.path, [(method, operation)]))
            }
        }
        var allSchemas = schemas
        allSchemas.append(("Error", Schema.errorDetail))
        return [
            "openapi": "3.1.0",
            "info": ["title": .string(title), "version": .string(version), "description": .string(description)],
            "paths": .object(paths.map { ($0.0, .object($0.1)) }),
            "components": [
                "schemas": .object(allSchemas),
                "securitySchemes": [
                    "bearer": [
                        "type": "http", "scheme": "bearer",
                        "description": "A JWT from POST /admin/auth/login, or an API key (atk_…)",
                    ],
                    "xToken": [
                        "type": "apiKey", "in": "header", "name": "X-Token",
                        "description": "An API key, as seed 000's clients send it",
                    ],
                ],
            ],
        ]
    }

    static func operation(_ route: RegisteredRoute) -> JSONValue {
        let doc = route.doc
        var pairs: [(String, JSONValue)] = [
            ("summary", .string(doc.summary)),
            ("operationId", .string(operationID(route))),
            ("tags", .array(doc.tags.map { .string($0) })),
        ]
        var parameters: [JSONValue] = pathParameters(route.path).map { name in
            ["name": .string(name), "in": "path", "required": true, "schema": ["type": "string", "minLength": 1]]
        }
        for parameter in doc.parameters {
            parameters.append([
                "name": .string(parameter.name), "in": .string(parameter.location),
                "required": .bool(parameter.required), "schema": parameter.schema,
                "description": .string(parameter.description),
            ])
        }
        if !parameters.isEmpty { pairs.append(("parameters", .array(parameters))) }
        if let request = doc.request {
            pairs.append(
                (
                    "requestBody",
                    [
                        "required": .bool(doc.requestRequired),
                        "content": ["application/json": ["schema": request]],
                    ]
                )
            )
        }
        switch doc.auth {
        case .none: pairs.append(("security", []))
        case .optional: pairs.append(("security", [[:], ["bearer": []], ["xToken": []]]))
        case .role, .writer: pairs.append(("security", [["bearer": []], ["xToken": []]]))
        }
        pairs.append(("responses", .object(responses(route))))
        return .object(pairs)
    }

    static func responses(_ route: RegisteredRoute) -> [(String, JSONValue)] {
        let doc = route.doc
        var result: [(String, JSONValue)] = doc.responses.map { body in
            var response: [(String, JSONValue)] = [("description", .string(body.description))]
            if let schema = body.schema {
                let media: JSONValue = ["schema": schema]
                response.append(("content", .object([(body.contentType, media)])))
            } else if body.contentType != "application/json" {
                let media: JSONValue = [:]
                response.append(("content", .object([(body.contentType, media)])))
            }
            return (String(body.status), .object(response))
        }
        var errors = Set(doc.errors)
        if doc.request != nil { errors.formUnion([400, 413, 422]) }
        if !doc.parameters.filter({ $0.location == "query" }).isEmpty { errors.insert(422) }
        switch doc.auth {
        // Credentials, when sent, are checked on every route; a wrong one is a 401 even here.
        case .none, .optional: errors.insert(401)
        case .role(let role):
            errors.insert(401)
            if role != .guest { errors.insert(403) }
        case .writer: errors.formUnion([401, 403])
        }
        if !pathParameters(route.path).isEmpty { errors.insert(404) }
        for status in errors.sorted() where !result.contains(where: { $0.0 == String(status) }) {
            let reason = HTTPResponse.Status(code: status).reasonPhrase
            result.append(
                (
                    String(status),
                    [
                        "description": .string(reason),
                        "content": ["application/json": ["schema": Schema.ref("Error")]],
                    ]
                )
            )
        }
        return result
    }

    static func pathParameters(_ path: String) -> [String] {
        path.split(separator: "/").compactMap { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? String(part.dropFirst().dropLast()) : nil
        }
    }

    static func operationID(_ route: RegisteredRoute) -> String {
        let words = route.path.split(separator: "/").map { part in
            part.hasPrefix("{") ? "by_" + part.dropFirst().dropLast() : String(part)
        }
        return ([route.method.rawValue.lowercased()] + words).joined(separator: "_")
            .replacingOccurrences(of: "-", with: "_").replacingOccurrences(of: ".", with: "_")
    }
}
