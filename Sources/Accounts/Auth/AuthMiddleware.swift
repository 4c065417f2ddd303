import Core
import Hummingbird

/// Authenticates every request that carries credentials and puts the caller on the context.
/// Routes then ask the context for the role they need (`context.require(.admin)`).
public struct AuthMiddleware: RouterMiddleware {
    public typealias Context = AppRequestContext
    let authenticator: Authenticator

    public init(authenticator: Authenticator) { self.authenticator = authenticator }

    public func handle(_ request: Request, context: AppRequestContext,
                       next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        if let principal = try await authenticator.authenticate(headers: request.headers) {
            context.principal = principal
            context.logger[metadataKey: "user_id"] = .string(principal.userID)
        }
        return try await next(request, context)
    }
}
