import AsyncHTTPClient
import Core
import Foundation
import NIOCore
import NIOHTTP1

/// A Bot API client for one bot (https://core.telegram.org/bots/api). Calls are POSTs of JSON to
/// `<base>/bot<token>/<method>`, or multipart when a file is uploaded; answers are
/// `{"ok": true, "result": …}` or an error typed as `BotAPIError`. The base URL is the operator's
/// (`ATELIER_TELEGRAM_API_URL`: api.telegram.org, a local Bot API server, a test's fake).
/// The token is part of every URL, so URLs are never logged or put into errors.
package struct BotAPIClient: Sendable {
    package let baseURL: String
    let token: Secret
    let http: HTTPClient
    /// For calls other than long polls (which add their own wait).
    package var timeout: TimeAmount = .seconds(30)
    /// Largest answer read into memory (file downloads have their own limit).
    package var maxAnswerBytes = 8 << 20

    package init(baseURL: String, token: Secret, http: HTTPClient) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.http = http
    }

    /// Calls `method` with `params` as JSON and decodes `result`.
    package func call<Result: Decodable>(
        _ method: String,
        _ params: some Encodable,
        as type: Result.Type = Result.self,
        timeout: TimeAmount? = nil
    ) async throws -> Result {
        var request = HTTPClientRequest(url: "\(baseURL)/bot\(token.value)/\(method)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: try Self.encoder.encode(params)))
        return try await send(request, method: method, timeout: timeout ?? self.timeout)
    }

    /// Calls `method` as multipart/form-data: `params` become text fields (objects as JSON text),
    /// and each upload in `files` becomes a file part, referred to as `attach://<name>` where the
    /// method wants one (media groups).
    package func callMultipart<Result: Decodable>(
        _ method: String,
        _ params: some Encodable,
        files: [MultipartForm.File],
        as type: Result.Type = Result.self
    ) async throws -> Result {
        var fields: [(String, String)] = []
        let values = try Self.decoder.decode([String: FieldValue].self, from: try Self.encoder.encode(params))
        for (name, value) in values.sorted(by: { $0.key < $1.key }) {
            switch value {
            case .null: continue
            case .text(let text): fields.append((name, text))
            case .json(let json): fields.append((name, String(decoding: try Self.encoder.encode(json), as: UTF8.self)))
            }
        }
        let form = MultipartForm(fields: fields, files: files)
        var request = HTTPClientRequest(url: "\(baseURL)/bot\(token.value)/\(method)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: form.contentType)
        request.body = .bytes(ByteBuffer(data: form.body))
        // Uploads of a few megabytes over a slow link take longer than a call.
        return try await send(request, method: method, timeout: timeout + .seconds(90))
    }

    /// Downloads a file `getFile` gave the path of: `<base>/file/bot<token>/<file_path>`.
    package func download(filePath: String, maxBytes: Int = 20 << 20) async throws -> Data {
        guard !filePath.contains(".."), !filePath.hasPrefix("/") else {
            throw BotAPIError.transport("Telegram gave a file path that leaves its folder")
        }
        let request = HTTPClientRequest(url: "\(baseURL)/file/bot\(token.value)/\(filePath)")
        let response: HTTPClientResponse
        do { response = try await http.execute(request, timeout: timeout + .seconds(90)) } catch {
            throw BotAPIError.transport(NetworkErrors.describe(error))
        }
        guard response.status == .ok else {
            _ = try? await response.body.collect(upTo: 64 << 10)
            throw BotAPIError.from(status: Int(response.status.code), body: nil)
        }
        do { return Data(buffer: try await response.body.collect(upTo: maxBytes)) } catch {
            throw BotAPIError.transport("the file is larger than \(maxBytes) bytes or the download was cut")
        }
    }

    func send<Result: Decodable>(_ request: HTTPClientRequest, method: String, timeout: TimeAmount) async throws -> Result {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: timeout)
            body = try await response.body.collect(upTo: maxAnswerBytes)
        } catch {
            throw BotAPIError.transport("\(method): \(NetworkErrors.describe(error))")
        }
        let data = Data(buffer: body)
        if response.status == .ok, let answer = try? Self.decoder.decode(Answer<Result>.self, from: data), answer.ok, let result = answer.result {
            return result
        }
        if let error = try? Self.decoder.decode(BotAPIError.ErrorBody.self, from: data), error.error_code != nil || error.description != nil {
            throw BotAPIError.from(status: Int(response.status.code), body: error)
        }
        if response.status == .ok {
            throw BotAPIError.transport("\(method): the answer is not the Bot API's JSON")
        }
        throw BotAPIError.from(status: Int(response.status.code), body: nil)
    }

    struct Answer<Result: Decodable>: Decodable {
        var ok: Bool
        var result: Result?
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    static let decoder = JSONDecoder()
}
