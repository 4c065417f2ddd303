import Core
import HTTPTypes
import Hummingbird

/// CORS for the origins in `ATELIER_CORS_ORIGINS` (seed 002's web front-end): a listed origin gets
/// `Access-Control-Allow-Origin` with itself (never `*` with credentials), preflights are answered
/// here, and other origins get no CORS headers (the browser then refuses to read the answer).
struct CORSMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let origins: Set<String>
    let allowAll: Bool

    init(origins: [String]) {
        self.origins = Set(origins.filter { $0 != "*" })
        allowAll = origins.contains("*")
    }

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        guard let origin = request.headers[.origin], allowAll || origins.contains(origin) else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var response = Response(status: .noContent)
            add(to: &response.headers, origin: origin)
            response.headers[.accessControlAllowMethods] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
            response.headers[.accessControlAllowHeaders] =
                request.headers[.accessControlRequestHeaders] ?? "Authorization, Content-Type, X-Token, Idempotency-Key"
            response.headers[.accessControlMaxAge] = "600"
            return response
        }
        var response: Response
        do { response = try await next(request, context) } catch let error as HTTPResponseError {
            // Error answers carry the headers too, or the front-end cannot read the detail.
            response = try error.response(from: request, context: context)
        }
        add(to: &response.headers, origin: origin)
        return response
    }

    func add(to headers: inout HTTPFields, origin: String) {
        headers[.accessControlAllowOrigin] = allowAll ? "*" : origin
        if !allowAll { headers[.accessControlAllowCredentials] = "true" }
        headers[.vary] = "Origin"
        headers[.accessControlExposeHeaders] = "Location, X-Request-ID, Retry-After"
    }
}
