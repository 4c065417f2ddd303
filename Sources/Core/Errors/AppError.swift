import Foundation
import HTTPTypes
import Hummingbird

/// The one error type every feature throws. It carries the HTTP status and a `detail` that tells
/// the caller what to fix; `ErrorMiddleware` turns it (and every other error) into the response body.
package struct AppError: Error, Sendable, CustomStringConvertible {
    package var status: HTTPResponse.Status
    package var detail: String
    /// Machine-readable code for clients that branch on errors (e.g. `"rate_limited"`).
    package var code: String?
    /// The offending field for validation errors (used by the OpenAI-style error shape).
    package var field: String?
    package var headers: HTTPFields

    package init(
        _ status: HTTPResponse.Status,
        _ detail: String,
        code: String? = nil,
        field: String? = nil,
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.detail = detail
        self.code = code
        self.field = field
        self.headers = headers
    }

    package var description: String { "\(status.code) \(detail)" }

    package static func badRequest(_ detail: String) -> AppError { AppError(.badRequest, detail, code: "bad_request") }
    package static func unauthorized(_ detail: String) -> AppError {
        AppError(.unauthorized, detail, code: "unauthorized", headers: [.wwwAuthenticate: "Bearer"])
    }
    package static func forbidden(_ detail: String) -> AppError { AppError(.forbidden, detail, code: "forbidden") }
    package static func notFound(_ detail: String) -> AppError { AppError(.notFound, detail, code: "not_found") }
    package static func conflict(_ detail: String) -> AppError { AppError(.conflict, detail, code: "conflict") }
    package static func tooLarge(_ detail: String) -> AppError { AppError(.contentTooLarge, detail, code: "too_large") }
    package static func unavailable(_ detail: String) -> AppError {
        AppError(.serviceUnavailable, detail, code: "unavailable")
    }
    /// 422: the request was well-formed JSON but a field is missing or wrong.
    package static func validation(field: String, _ problem: String) -> AppError {
        AppError(.unprocessableContent, "\(field): \(problem)", code: "validation_error", field: field)
    }
    /// 429 with `Retry-After` in whole seconds (at least 1).
    package static func rateLimited(_ detail: String, retryAfter seconds: Int) -> AppError {
        AppError(
            .tooManyRequests,
            detail,
            code: "rate_limited",
            headers: [.retryAfter: String(max(1, seconds))]
        )
    }
}
