import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The two error body shapes the API speaks. Atelier's own routes and the seed-compatibility routes
/// answer `{"detail": "..."}`; the OpenAI-compatible `/v1/` group answers OpenAI's shape because its
/// clients parse that. Both are produced here, from the same `AppError`.
public enum ErrorStyle: Sendable {
    case detail
    case openAI

    /// Chooses the style from the request path, so the mapping lives in one place.
    public static func forPath(_ path: String) -> ErrorStyle {
        path == "/v1" || path.hasPrefix("/v1/") ? .openAI : .detail
    }
}

extension AppError {
    public func body(style: ErrorStyle) -> Data {
        let object: [String: Any]
        switch style {
        case .detail:
            object = ["detail": detail]
        case .openAI:
            var error: [String: Any] = [
                "message": detail,
                "type": status.code >= 500 ? "server_error" : "invalid_request_error",
                "code": code.map { $0 as Any } ?? NSNull(),
                "param": field.map { $0 as Any } ?? NSNull(),
            ]
            if status == .unauthorized { error["type"] = "authentication_error" }
            if status == .tooManyRequests { error["type"] = "rate_limit_error" }
            object = ["error": error]
        }
        // JSONSerialization of string/null dictionaries cannot fail.
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    public func response(style: ErrorStyle) -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(
            status: status, headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: body(style: style))))
    }
}

extension AppError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response(style: ErrorStyle.forPath(request.uri.path))
    }
}
