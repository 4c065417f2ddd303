import HTTPTypes

/// What the OpenAPI document says about one route. Routes are registered together with their doc
/// (see `RouteTable`), so the document cannot drift from the router.
package struct OperationDoc: Sendable {
    package enum Auth: Sendable, Equatable {
        /// No credentials needed (credentials, when sent, are still checked).
        case none
        /// Needs a caller with at least this role.
        case role(Role)
        /// Any role but guest.
        case writer
        /// Handler decides (e.g. seed 001's optional auth, or its own token scheme).
        case optional
    }

    package struct Parameter: Sendable {
        package var name: String
        package var location: String
        package var required: Bool
        package var schema: JSONValue
        package var description: String

        package static func query(_ name: String, _ schema: JSONValue, _ description: String) -> Parameter {
            Parameter(name: name, location: "query", required: false, schema: schema, description: description)
        }

        package static func header(_ name: String, _ description: String, required: Bool = false) -> Parameter {
            Parameter(name: name, location: "header", required: required, schema: Schema.string, description: description)
        }
    }

    package struct Body: Sendable {
        package var status: Int
        package var description: String
        package var schema: JSONValue?
        package var contentType: String

        package init(
            _ status: Int,
            _ description: String,
            schema: JSONValue? = nil,
            contentType: String = "application/json"
        ) {
            self.status = status
            self.description = description
            self.schema = schema
            self.contentType = contentType
        }
    }

    package var summary: String
    package var tags: [String]
    package var auth: Auth
    package var request: JSONValue?
    package var requestRequired: Bool
    package var parameters: [Parameter]
    package var responses: [Body]
    /// Errors this route answers besides the ones every route can (400/401/403/413/422/429 follow
    /// from auth and request body and are added automatically).
    package var errors: [Int]

    package init(
        _ summary: String,
        tags: [String],
        auth: Auth,
        request: JSONValue? = nil,
        requestRequired: Bool = true,
        parameters: [Parameter] = [],
        responses: [Body],
        errors: [Int] = []
    ) {
        self.summary = summary
        self.tags = tags
        self.auth = auth
        self.request = request
        self.requestRequired = requestRequired
        self.parameters = parameters
        self.responses = responses
        self.errors = errors
    }
}

/// One registered route: method, path in `{param}` form, and its doc.
package struct RegisteredRoute: Sendable {
    package var method: HTTPRequest.Method
    package var path: String
    package var doc: OperationDoc
}
