import Core
import Hummingbird

/// Authenticates every request that carries credentials and puts the caller on the context.
/// Routes then ask the context for the role they need (`context.require(.admin)`).
package struct AuthMiddleware: RouterMiddleware {
    package typealias Context = AppRequestContext
    let authenticator: Authenticator

    package init(authenticator: Authenticator) { self.authenticator = authenticator }

    package func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let principal = try await authenticator.authenticate(headers: request.headers) {
            context.principal = principal
            context.logger[metadataKey: "user_id"] = .string(principal.userID)
        }
        return try await next(request, context)
    }
}
