import Foundation
import Hummingbird
import NIOCore

/// JSON coding shared by every route: RFC 3339 dates, and a body reader that turns decoding
/// failures into 400 (not JSON) or 422 (names the field) instead of a generic error.
package enum APIJSON {
    package static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }

    package static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }

    package static func encode(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(data: try encoder.encode(value))
    }
}

/// A body type with a reader for its common shape that is quicker than `JSONDecoder` (which,
/// through `Codable`, was the largest cost of an enqueue request after the database). It answers
/// nil for anything it does not fully understand, and `JSONDecoder` then reads the body, with its
/// errors, so the two must agree on every body the quick reader accepts.
package protocol QuickJSONDecodable: Decodable {
    static func quickDecode(_ body: ByteBuffer) -> Self?
}

extension Request {
    /// Reads and decodes a JSON body within the context's size limit.
    package func decodeJSON<T: Decodable>(_ type: T.Type, context: AppRequestContext) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: context.maxUploadSize)
        } catch let error as NIOTooManyBytesError {
            _ = error
            throw AppError.tooLarge("request body is over the limit of \(context.maxUploadSize) bytes")
        }
        if buffer.readableBytes == 0 {
            throw AppError.badRequest("request body is empty; send a JSON object")
        }
        let value: T
        if let quick = T.self as? any QuickJSONDecodable.Type, let quickValue = quick.quickDecode(buffer) as? T {
            value = quickValue
        } else {
            do {
                value = try APIJSON.decoder.decode(T.self, from: buffer)
            } catch let error as DecodingError {
                throw ErrorMapping.fromDecodingError(error)
            }
        }
        // Every body type with field bounds is checked here, so no route can forget to.
        if let bounded = value as? any BoundedInput { try bounded.checkBounds() }
        return value
    }
}

/// A JSON body already written (by Generation's `JSONObjectWriter`), for the small answers sent once per
/// enqueue request: `JSONEncoder` (a new encoder per response, `Codable`'s boxed containers,
/// sorted keys) was about 2 % of an enqueue's CPU for three fields.
package struct WrittenJSON: ResponseGenerator {
    package var status: HTTPResponse.Status
    package var text: String

    package init(_ text: String, status: HTTPResponse.Status = .ok) {
        self.status = status
        self.text = text
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// A JSON response with an explicit status, for 201/202 answers.
package struct JSONResponse<Value: Encodable & Sendable>: ResponseGenerator {
    package var status: HTTPResponse.Status
    package var value: Value
    package var headers: HTTPFields

    package init(_ status: HTTPResponse.Status = .ok, _ value: Value, headers: HTTPFields = [:]) {
        self.status = status
        self.value = value
        self.headers = headers
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: try APIJSON.encode(value)))
    }
}
