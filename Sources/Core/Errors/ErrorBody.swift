import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The two error body shapes the API speaks. Atelier's own routes and the seed-compatibility routes
/// answer `{"detail": "..."}`; the OpenAI-compatible `/v1/` group answers OpenAI's shape because its
/// clients parse that. Both are produced here, from the same `AppError`.
package enum ErrorStyle: Sendable {
    case detail
    case openAI

    /// Chooses the style from the request path, so the mapping lives in one place.
    package static func forPath(_ path: String) -> ErrorStyle {
        path == "/v1" || path.hasPrefix("/v1/") ? .openAI : .detail
    }
}

/// `{"detail": …}`.
private struct DetailBody: Encodable {
    var detail: String
}

/// OpenAI's `{"error": {"code", "message", "param", "type"}}`, with explicit nulls as OpenAI sends.
private struct OpenAIBody: Encodable {
    struct Inner: Encodable {
        var code: String?
        var message: String
        var param: String?
        var type: String

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(code, forKey: .code)
            try container.encode(message, forKey: .message)
            try container.encode(param, forKey: .param)
            try container.encode(type, forKey: .type)
        }

        enum CodingKeys: String, CodingKey { case code, message, param, type }
    }

    var error: Inner
}

extension AppError {
    /// Encoded with Codable types rather than JSONSerialization, whose dynamic casts made an
    /// error answer cost more than a whole successful request (it matters when a flood is
    /// answered with 429s).
    package func body(style: ErrorStyle) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        switch style {
        case .detail:
            return (try? encoder.encode(DetailBody(detail: detail))) ?? Data("{}".utf8)
        case .openAI:
            var type = status.code >= 500 ? "server_error" : "invalid_request_error"
            if status == .unauthorized { type = "authentication_error" }
            if status == .tooManyRequests { type = "rate_limit_error" }
            let body = OpenAIBody(error: .init(code: code, message: detail, param: field, type: type))
            return (try? encoder.encode(body)) ?? Data("{}".utf8)
        }
    }

    package func response(style: ErrorStyle) -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(
            status: status,
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: body(style: style)))
        )
    }
}

extension AppError: HTTPResponseError {
    package func response(from request: Request, context: some RequestContext) throws -> Response {
        response(style: ErrorStyle.forPath(request.uri.path))
    }
}
