import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Civitai's REST API as its server answers non-browser clients: model and version JSON, lookup by
/// hash, and `/api/download/models/{id}` answering 307 to a signed URL on another host (the fake
/// CDN), or 401/403/404/429 JSON errors. A file that needs a login can also be refused the way
/// civitai.com refuses a browser-like client (its login page as an HTML 200, or a redirect to
/// `/login`), and the whole service can be told to answer 5xx with Cloudflare's HTML error page.
final class FakeCivitai: Sendable {
    /// How a download that needs a login is refused to a client without a valid key.
    enum LoginWall: Sendable {
        /// `401 {"error": "Unauthorized", …}` (what API clients get).
        case unauthorizedJSON
        /// `200 text/html`: the sign-in page itself.
        case loginPage
        /// `307 Location: /login?returnUrl=…`, which answers the sign-in page.
        case redirectToLogin
    }

    struct Version: Sendable {
        var id: Int
        var modelID: Int
        var modelName: String
        var type: String
        var name: String
        var baseModel: String
        var trainedWords: [String]
        var fileName: String
        var sha256: String
        var size: Int
        var requiresAuth = false
        var earlyAccess = false
        var previewURL: String?
        var loginWall = LoginWall.unauthorizedJSON
    }

    struct State: Sendable {
        var versions: [Int: Version] = [:]
        var authorizations: [String?] = []
        var rateLimited = false
        /// When set, every API and download request answers this status with an HTML error page.
        var serverError: Int?
        /// Only paths with this prefix fail (e.g. `/api/download/` to fail downloads but not metadata).
        var serverErrorPrefix = "/"
    }

    let state = NIOLockedValueBox(State())
    let cdn: FakeFileServer
    let token: String
    private let serverBox = NIOLockedValueBox<RunningServer?>(nil)
    /// Set once, right after start.
    var server: RunningServer { serverBox.withLockedValue { $0! } }

    init(cdn: FakeFileServer, token: String) {
        self.cdn = cdn
        self.token = token
    }

    static func start(cdn: FakeFileServer, token: String = "civitai-secret-token") async throws -> FakeCivitai {
        let fake = FakeCivitai(cdn: cdn, token: token)
        let router = Router()
        router.middlewares.add(ServerErrorMiddleware(fake: fake))
        router.get("/login") { _, _ in fake.loginPage() }
        router.get("/api/v1/model-versions/by-hash/{hash}") { _, context in
            let hash = context.parameters.get("hash")?.uppercased() ?? ""
            guard let version = fake.state.withLockedValue({ $0.versions.values.first { $0.sha256.uppercased() == hash } }) else {
                return fake.json(.notFound, ["error": "Model not found"])
            }
            return fake.json(.ok, fake.versionJSON(version))
        }
        router.get("/api/v1/model-versions/{id}") { request, context in
            fake.record(request)
            guard let id = context.parameters.get("id", as: Int.self),
                let version = fake.state.withLockedValue({ $0.versions[id] })
            else { return fake.json(.notFound, ["error": "Model not found"]) }
            return fake.json(.ok, fake.versionJSON(version))
        }
        router.get("/api/v1/models/{id}") { request, context in
            fake.record(request)
            let id = context.parameters.get("id", as: Int.self) ?? 0
            let versions = fake.state.withLockedValue { $0.versions.values.filter { $0.modelID == id }.sorted { $0.id > $1.id } }
            guard let first = versions.first else { return fake.json(.notFound, ["error": "No model with id \(id)"]) }
            return fake.json(
                .ok,
                [
                    "id": id, "name": first.modelName, "type": first.type, "nsfw": false,
                    "modelVersions": versions.map { fake.versionJSON($0) },
                ]
            )
        }
        router.get("/api/download/models/{id}") { request, context in
            fake.record(request)
            if fake.state.withLockedValue({ $0.rateLimited }) {
                return fake.json(.tooManyRequests, ["error": "We've noticed an unusual amount of downloading from your account."])
            }
            guard let id = context.parameters.get("id", as: Int.self),
                let version = fake.state.withLockedValue({ $0.versions[id] })
            else { return fake.json(.notFound, ["error": "File not found"]) }
            let authorized =
                request.headers[.authorization] == "Bearer \(fake.token)"
                || request.uri.queryParameters["token"].map { String($0) } == fake.token
            if version.earlyAccess {
                return fake.json(
                    .forbidden,
                    [
                        "error": "Early Access", "deadline": "2026-12-31T00:00:00.000Z",
                        "message": "This asset is in Early Access. You can use Buzz access it now!",
                    ]
                )
            }
            if version.requiresAuth && !authorized {
                switch version.loginWall {
                case .unauthorizedJSON:
                    return fake.json(
                        .unauthorized,
                        [
                            "error": "Unauthorized",
                            "message": "The creator of this asset requires you to be logged in to download it",
                        ]
                    )
                case .loginPage:
                    return fake.loginPage()
                case .redirectToLogin:
                    let back = "/api/download/models/\(id)".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                    return Response(status: .temporaryRedirect, headers: [.location: "/login?returnUrl=\(back)&reason=download-auth"])
                }
            }
            let signed = fake.cdn.url(version.fileName) + "?X-Amz-Expires=86400&X-Amz-Signature=abc123"
            return Response(
                status: .temporaryRedirect,
                headers: [.location: signed],
                body: .init(byteBuffer: ByteBuffer(string: signed))
            )
        }
        let server = try await RunningServer.start(router)
        fake.serverBox.withLockedValue { $0 = server }
        return fake
    }

    var baseURL: String { server.baseURL() }
    func add(_ version: Version) { state.withLockedValue { $0.versions[version.id] = version } }
    var authorizations: [String?] { state.withLockedValue { $0.authorizations } }
    func stop() async { await server.stop() }

    func record(_ request: Request) {
        state.withLockedValue { $0.authorizations.append(request.headers[.authorization]) }
    }

    func versionJSON(_ version: Version) -> [String: Any] {
        var images: [[String: Any]] = []
        if let preview = version.previewURL {
            images.append(["url": preview, "nsfwLevel": 1, "width": 512, "height": 768, "type": "image"])
        }
        return [
            "id": version.id, "modelId": version.modelID, "name": version.name, "baseModel": version.baseModel,
            "trainedWords": version.trainedWords, "status": "Published",
            "air": "urn:air:sdxl:\(version.type.lowercased()):civitai:\(version.modelID)@\(version.id)",
            "model": ["name": version.modelName, "type": version.type, "nsfw": false, "poi": false],
            "files": [
                [
                    "id": version.id * 10, "name": version.fileName, "type": "Model", "sizeKB": Double(version.size) / 1024,
                    "metadata": ["format": "SafeTensor", "size": "pruned", "fp": "fp16"],
                    "pickleScanResult": "Success", "virusScanResult": "Success",
                    "hashes": ["AutoV2": String(version.sha256.prefix(10)).uppercased(), "SHA256": version.sha256.uppercased()],
                    "downloadUrl": "https://civitai.com/api/download/models/\(version.id)", "primary": true,
                ]
            ],
            "images": images,
            "downloadUrl": "https://civitai.com/api/download/models/\(version.id)",
        ]
    }

    func loginPage() -> Response {
        let html =
            "<!DOCTYPE html><html lang=\"en\"><head><title>Sign in to Civitai | Civitai</title></head><body><div id=\"__next\">Sign in</div></body></html>"
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// Answers every request with `serverError` while it is set (Cloudflare's HTML page, as civitai.com sends).
    struct ServerErrorMiddleware: RouterMiddleware {
        let fake: FakeCivitai

        func handle(
            _ request: Request,
            context: BasicRequestContext,
            next: (Request, BasicRequestContext) async throws -> Response
        ) async throws -> Response {
            let (status, prefix) = fake.state.withLockedValue { ($0.serverError, $0.serverErrorPrefix) }
            guard let code = status, request.uri.path.hasPrefix(prefix) else { return try await next(request, context) }
            let html = "<!DOCTYPE html><html><head><title>civitai.com | \(code): Server error</title></head><body>Cloudflare</body></html>"
            return Response(
                status: .init(code: code),
                headers: [.contentType: "text/html; charset=UTF-8"],
                body: .init(byteBuffer: ByteBuffer(string: html))
            )
        }
    }

    func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(data: data))
        )
    }
}
