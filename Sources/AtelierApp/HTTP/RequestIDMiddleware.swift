import Core
import HTTPTypes
import Hummingbird

/// Gives every request an id: the caller's `X-Request-ID` when it is a sane token, else a new one.
/// It goes on the response, on every log line of the request, and into 500 error details.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    static let header = HTTPField.Name("X-Request-ID")!

    func handle(_ request: Request, context: AppRequestContext,
                next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        let id = request.headers[Self.header].flatMap(Self.acceptable) ?? RandomToken.base62(16)
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        var response = try await next(request, context)
        response.headers[Self.header] = id
        return response
    }

    static func acceptable(_ value: String) -> String? {
        guard (1...64).contains(value.count),
            value.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_") })
        else { return nil }
        return value
    }
}

/// Sets the body limit from configuration on the context (Hummingbird reads `maxUploadSize`).
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let limit: Int

    func handle(_ request: Request, context: AppRequestContext,
                next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        context.bodyLimit = limit
        // A declared length over the limit is refused before a byte of the body is read.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw AppError.tooLarge("request body of \(length) bytes is over the limit of \(limit) bytes")
        }
        return try await next(request, context)
    }
}
