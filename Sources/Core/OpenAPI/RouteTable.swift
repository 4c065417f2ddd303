import HTTPTypes
import Hummingbird

/// Registers routes on the Hummingbird router and records each one's `OperationDoc`. Features
/// receive a `RouteTable` and add their routes; `/openapi.json` is generated from `routes`.
/// Used only while the application is being built, on one task, so it is a plain class.
package final class RouteTable {
    package let router: Router<AppRequestContext>
    package private(set) var routes: [RegisteredRoute] = []
    /// Named schemas referenced as `#/components/schemas/NAME`.
    package private(set) var schemas: [(String, JSONValue)] = []

    package init(router: Router<AppRequestContext>) {
        self.router = router
    }

    package func schema(_ name: String, _ schema: JSONValue) {
        if !schemas.contains(where: { $0.0 == name }) { schemas.append((name, schema)) }
    }

    /// Records a route's doc for a handler registered directly on `router`.
    package func record(_ method: HTTPRequest.Method, _ path: String, _ doc: OperationDoc) {
        routes.append(RegisteredRoute(method: method, path: path, doc: doc))
    }

    package func add<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method,
        _ path: String,
        _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) {
        routes.append(RegisteredRoute(method: method, path: path, doc: doc))
        router.on(RouterPath(path), method: method, use: handler)
    }

    package func get<Output: ResponseGenerator>(
        _ path: String,
        _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) { add(.get, path, doc, handler: handler) }

    package func post<Output: ResponseGenerator>(
        _ path: String,
        _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) { add(.post, path, doc, handler: handler) }

    package func put<Output: ResponseGenerator>(
        _ path: String,
        _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) { add(.put, path, doc, handler: handler) }

    package func delete<Output: ResponseGenerator>(
        _ path: String,
        _ doc: OperationDoc,
        handler: @escaping @Sendable (Request, AppRequestContext) async throws -> Output
    ) { add(.delete, path, doc, handler: handler) }
}
