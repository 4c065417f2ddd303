import Core
import Hummingbird

/// Works out who is calling and the base of absolute links, before anything else looks: behind a
/// trusted reverse proxy the socket's peer is the proxy, and the client is in its forwarded
/// headers. Runs first, so the access log, guest ownership, the hourly limit and login throttling
/// all see the same client.
struct ClientOriginMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let proxies: TrustedProxies
    /// `ATELIER_PUBLIC_URL` without its trailing slash; when set, links always start with it.
    let publicBase: String?

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        let origin = proxies.origin(peer: context.clientAddress, authority: request.head.authority, headers: request.headers)
        context.clientAddress = origin.clientAddress
        context.baseURL = publicBase ?? origin.baseURL
        return try await next(request, context)
    }
}
