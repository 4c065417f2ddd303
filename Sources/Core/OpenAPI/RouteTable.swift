import HTTPTypes
import Hummingbird

/// Registers routes on the Hummingbird router and records each one's `OperationDoc`. Features
/// receive a `RouteTable` and add their routes; `/openapi.json` is generated from `routes`.
/// Used only while the application is being built, on one task, so it is a plain class.
public final class RouteTable {
    public let router: Router<AppRequestContext>
    public private(set) var routes: [RegisteredRoute] = []
    /// Named schemas referenced as `#/components/schemas/NAME`.
    public private(set) var schemas: [(String, JSONValue)] = []

    public init(router: Router<AppRequestContext>) {
        self.router = router
    }

    public func schema(_ name: String, _ schema: JSONValue) {
        if !schemas.contains(where: { $0.0 == name }) { schemas.append((name, schema)) }
    }

    /// Records a route's doc for a handler registered directly on `router`.
    public func record(_ method: HTTPRequest.Method, _ path: String, _ doc: OperationDoc) {
        routes.append(RegisteredRoute(method: method, path: path, doc: doc))
    }

    public func add<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) {
        routes.append(RegisteredRoute(method: method, path: path, doc: doc))
        router.on(RouterPath(path), method: method, use: handler)
    }

    public func get<Output: ResponseGenerator>(
        _ path: String, _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) { add(.get, path, doc, handler: handler) }

    public func post<Output: ResponseGenerator>(
        _ path: String, _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) { add(.post, path, doc, handler: handler) }

    public func put<Output: ResponseGenerator>(
        _ path: String, _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) { add(.put, path, doc, handler: handler) }

    public func delete<Output: ResponseGenerator>(
        _ path: String, _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) { add(.delete, path, doc, handler: handler) }
}
