import HTTPTypes

/// What the OpenAPI document says about one route. Routes are registered together with their doc
/// (see `RouteTable`), so the document cannot drift from the router.
public struct OperationDoc: Sendable {
    public enum Auth: Sendable, Equatable {
        /// No credentials needed (credentials, when sent, are still checked).
        case none
        /// Needs a caller with at least this role.
        case role(Role)
        /// Any role but guest.
        case writer
        /// Handler decides (e.g. seed 001's optional auth, or its own token scheme).
        case optional
    }

    public struct Parameter: Sendable {
        public var name: String
        public var location: String
        public var required: Bool
        public var schema: JSONValue
        public var description: String

        public static func query(_ name: String, _ schema: JSONValue, _ description: String) -> Parameter {
            Parameter(name: name, location: "query", required: false, schema: schema, description: description)
        }

        public static func header(_ name: String, _ description: String, required: Bool = false) -> Parameter {
            Parameter(name: name, location: "header", required: required, schema: Schema.string, description: description)
        }
    }

    public struct Body: Sendable {
        public var status: Int
        public var description: String
        public var schema: JSONValue?
        public var contentType: String

        public init(_ status: Int, _ description: String, schema: JSONValue? = nil,
                    contentType: String = "application/json") {
            self.status = status
            self.description = description
            self.schema = schema
            self.contentType = contentType
        }
    }

    public var summary: String
    public var tags: [String]
    public var auth: Auth
    public var request: JSONValue?
    public var requestRequired: Bool
    public var parameters: [Parameter]
    public var responses: [Body]
    /// Errors this route answers besides the ones every route can (400/401/403/413/422/429 follow
    /// from auth and request body and are added automatically).
    public var errors: [Int]

    public init(_ summary: String, tags: [String], auth: Auth, request: JSONValue? = nil,
                requestRequired: Bool = true, parameters: [Parameter] = [], responses: [Body], errors: [Int] = []) {
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
public struct RegisteredRoute: Sendable {
    public var method: HTTPRequest.Method
    public var path: String
    public var doc: OperationDoc
}
