import Foundation
import HTTPTypes
import Hummingbird

/// An error from a layer below the API that the client's input can cause, such as a database
/// refusing a value: the layer that knows its errors says which of them are the client's to fix
/// (`clientError`, a 4xx) and which are the server's (nil: a 500).
package protocol ClientInputError: Error {
    var clientError: AppError? { get }
}

/// Maps any error thrown below the API edge to an `AppError`. Unknown errors become a 500 whose
/// detail names only the request id: never a stack trace, a SQL statement or a secret.
package enum ErrorMapping {
    package static func appError(from error: any Error, requestID: String) -> AppError {
        switch error {
        case let error as AppError:
            return error
        case let error as HTTPError:
            return fromHTTPError(error)
        case let error as DecodingError:
            return fromDecodingError(error)
        case is CancellationError:
            return AppError(.serviceUnavailable, "the request was cancelled because the server is shutting down")
        case let error as any ClientInputError:
            return error.clientError ?? internalError(requestID)
        default:
            return internalError(requestID)
        }
    }

    static func internalError(_ requestID: String) -> AppError {
        AppError(.internalServerError, "internal error; quote request id \(requestID) when reporting it", code: "internal_error")
    }

    static func fromHTTPError(_ error: HTTPError) -> AppError {
        switch error.status {
        case .contentTooLarge:
            return .tooLarge("request body is larger than the server accepts; send a smaller body")
        case .notFound:
            return AppError(.notFound, error.body ?? "no route matches this path; see /openapi.json", code: "not_found")
        case .methodNotAllowed:
            return AppError(.methodNotAllowed, error.body ?? "this method is not allowed on this path")
        default:
            return AppError(error.status, error.body ?? error.status.reasonPhrase, headers: error.headers)
        }
    }

    /// Field path of a decoding failure as `a.b[2].c`, the way API users refer to fields.
    package static func fieldPath(_ codingPath: [any CodingKey], appending key: (any CodingKey)? = nil) -> String {
        var parts = codingPath
        if let key { parts.append(key) }
        var result = ""
        for part in parts {
            if let index = part.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? part.stringValue : ".\(part.stringValue)"
            }
        }
        return result.isEmpty ? "body" : result
    }

    package static func fromDecodingError(_ error: DecodingError) -> AppError {
        switch error {
        case .keyNotFound(let key, let context):
            return .validation(field: fieldPath(context.codingPath, appending: key), "field required")
        case .valueNotFound(let type, let context):
            return .validation(field: fieldPath(context.codingPath), "must not be null (expected \(typeName(type)))")
        case .typeMismatch(let type, let context):
            return .validation(field: fieldPath(context.codingPath), "expected \(typeName(type))")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return .badRequest("request body is not valid JSON")
            }
            return .validation(field: fieldPath(context.codingPath), "invalid value")
        @unknown default:
            return .badRequest("request body could not be read")
        }
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is Bool.Type: return "a boolean"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}
