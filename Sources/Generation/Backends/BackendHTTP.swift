import AsyncHTTPClient
import Core
import Foundation
import NIOCore
import NIOHTTP1

/// HTTP for backend adapters: JSON in and out, credentials on every request to the backend's own
/// origin only, and every failure turned into a `BackendError` that names the upstream and says
/// whether trying again could help (connection problems, timeouts, 429 and 5xx can).
struct BackendHTTP: Sendable {
    let client: BackendTransport
    let backend: String
    let base: URL
    /// Sent with requests to `base`'s origin (never to image URLs elsewhere).
    let headers: [(String, String)]

    init(client: BackendTransport, backend: String, base: URL, headers: [(String, String)] = []) {
        self.client = client
        self.backend = backend
        self.base = base
        self.headers = headers
    }

    /// `base` joined with a path that starts with `/`.
    func url(_ path: String) -> String {
        var text = base.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return text + path
    }

    struct Reply {
        var status: Int
        var body: Data
        var json: Any? { try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed]) }
    }

    /// Sends a request; any status comes back as a `Reply` (connection problems throw).
    func send(
        _ method: HTTPMethod,
        _ target: String,
        json: Any? = nil,
        body: Data? = nil,
        contentType: String? = nil,
        timeout: Duration = .seconds(60),
        limit: Int = 64 << 20
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: target.hasPrefix("http") ? target : url(target))
        request.method = method
        if sameOrigin(request.url) {
            for (name, value) in headers { request.headers.add(name: name, value: value) }
        }
        request.headers.add(name: "Accept", value: "application/json, image/*")
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: json)))
        } else if let body {
            request.headers.add(name: "Content-Type", value: contentType ?? "application/octet-stream")
            request.body = .bytes(ByteBuffer(data: body))
        }
        do {
            let response = try await client.send(request, .milliseconds(timeout.milliseconds))
            let buffer = try await response.body.collect(upTo: limit)
            return Reply(status: Int(response.status.code), body: Data(buffer: buffer))
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as HTTPClientError where error == .cancelled {
            throw CancellationError()
        } catch let refusal as AppError {
            // The address policy refused the endpoint or an image URL: trying again cannot help.
            throw BackendError(backend: backend, message: refusal.detail, retryable: false)
        } catch {
            throw BackendError(backend: backend, message: "cannot reach \(hostDescription): \(client.describe(error))", retryable: true)
        }
    }

    /// Sends and expects a 2xx; a non-2xx becomes a `BackendError` quoting the upstream's message.
    func expectOK(
        _ method: HTTPMethod,
        _ target: String,
        json: Any? = nil,
        body: Data? = nil,
        contentType: String? = nil,
        timeout: Duration = .seconds(60),
        what: String
    ) async throws -> Reply {
        let reply = try await send(method, target, json: json, body: body, contentType: contentType, timeout: timeout)
        guard (200..<300).contains(reply.status) else { throw failure(reply, what: what) }
        return reply
    }

    /// A JSON object answer, or a `BackendError` saying the shape was unexpected.
    func object(_ reply: Reply, what: String) throws -> [String: Any] {
        guard let object = reply.json as? [String: Any] else {
            throw BackendError(
                backend: backend,
                message: "\(what): the answer is not a JSON object: \(Self.snippet(reply.body))",
                retryable: false
            )
        }
        return object
    }

    func failure(_ reply: Reply, what: String) -> BackendError {
        let detail = Self.upstreamMessage(reply.body)
        switch reply.status {
        case 401, 403:
            return BackendError(
                backend: backend,
                message: "\(what): credentials refused (\(reply.status)): \(detail); check the worker's token",
                retryable: false
            )
        case 408, 429, 500...599:
            return BackendError(backend: backend, message: "\(what): upstream answered \(reply.status): \(detail)", retryable: true)
        default:
            return BackendError(backend: backend, message: "\(what): upstream refused it (\(reply.status)): \(detail)", retryable: false)
        }
    }

    var hostDescription: String { base.host.map { "\($0)\(base.port.map { ":\($0)" } ?? "")" } ?? base.absoluteString }

    func sameOrigin(_ target: String) -> Bool {
        guard let url = URL(string: target) else { return false }
        return url.scheme == base.scheme && url.host == base.host && url.port == base.port
    }

    /// The message an upstream put in its error body (`detail`, `error`, `message`, `title`), or
    /// the start of the body.
    static func upstreamMessage(_ body: Data) -> String {
        if let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] {
            for key in ["detail", "error", "message", "title", "errors"] {
                if let text = object[key] as? String, !text.isEmpty { return String(text.prefix(300)) }
                if let nested = object[key] as? [String: Any], let text = nested["message"] as? String { return String(text.prefix(300)) }
            }
        }
        return snippet(body)
    }

    static func snippet(_ body: Data) -> String {
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingWhitespace
        return text.isEmpty ? "(empty body)" : text
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

extension BackendHTTP {
    /// An output image given as a URL (fetched; credentials only if it is on the backend's own
    /// origin), a `data:` URI or bare base64.
    func image(_ reference: String, what: String) async throws -> Data {
        if reference.hasPrefix("http://") || reference.hasPrefix("https://") {
            return try await expectOK(
                .GET,
                reference,
                timeout: .seconds(120),
                what: "\(what): fetching \(URL(string: reference)?.host ?? "the image")"
            ).body
        }
        guard let data = ImageData.decode(reference) else {
            throw BackendError(backend: backend, message: "\(what): the output is neither a URL nor base64 image data", retryable: false)
        }
        return data
    }

    /// The first image reference in an output of any usual shape: a string, a list of strings,
    /// `{"images": [...]}` (strings, or objects with `data`/`image`/`url`), `image_url`, `image`,
    /// or `message` (older ComfyUI workers).
    static func firstImageReference(_ output: Any?) -> String? {
        switch output {
        case let text as String: return text
        case let list as [Any]: return list.lazy.compactMap { firstImageReference($0) }.first
        case let object as [String: Any]:
            for key in ["images", "image_url", "image", "output", "data", "url", "message"] {
                if let found = firstImageReference(object[key]) { return found }
            }
            return nil
        default: return nil
        }
    }
}
