import Core
import HTTPTypes
import Hummingbird

/// Sets the body limit from configuration on the context (Hummingbird reads `maxUploadSize`).
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limit: Int

    func handle(
        _ request: Request,
        context: AppRequestContext,
        next: (Request, AppRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.bodyLimit = limit
        // A declared length over the limit is refused before a byte of the body is read.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw AppError.tooLarge("request body of \(length) bytes is over the limit of \(limit) bytes")
        }
        return try await next(request, context)
    }
}
