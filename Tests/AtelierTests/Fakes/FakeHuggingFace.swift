import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// The Hugging Face Hub's `resolve` and model-info endpoints: LFS files answer 302 to the fake CDN
/// with `X-Repo-Commit`, `X-Linked-Etag` (the SHA-256) and `X-Linked-Size`; errors carry
/// `X-Error-Code` (RepoNotFound, EntryNotFound, RevisionNotFound, GatedRepo).
final class FakeHuggingFace: Sendable {
    struct Repo: Sendable {
        var id: String
        var files: [String: Data]
        var gated = false
        var commit = "607a30d783dfa663caf39e06633721c8d4cfcd7e"
    }

    struct State: Sendable {
        var repos: [String: Repo] = [:]
        var authorizations: [String?] = []
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

    static func start(cdn: FakeFileServer, token: String = "hf_secret_token") async throws -> FakeHuggingFace {
        let fake = FakeHuggingFace(cdn: cdn, token: token)
        let router = Router()
        let resolve: @Sendable (Request, BasicRequestContext) throws -> Response = { request, context in
            try fake.resolve(request, context)
        }
        router.get("/{owner}/{repo}/resolve/{revision}/**", use: resolve)
        router.head("/{owner}/{repo}/resolve/{revision}/**", use: resolve)
        router.get("/api/models/{owner}/{repo}") { request, context in
            fake.state.withLockedValue { $0.authorizations.append(request.headers[.authorization]) }
            let id = "\(context.parameters.get("owner") ?? "")/\(context.parameters.get("repo") ?? "")"
            guard let repo = fake.state.withLockedValue({ $0.repos[id] }) else {
                return Response(status: .unauthorized, headers: [HTTPField.Name("X-Error-Message")!: "Invalid username or password."])
            }
            let siblings: [[String: Any]] = repo.files.keys.sorted().map { name in
                let data = repo.files[name]!
                return [
                    "rfilename": name, "size": data.count,
                    "lfs": ["sha256": FakeFileServer.sha256(data), "size": data.count, "pointerSize": 134],
                ]
            }
            let body: [String: Any] = [
                "id": id, "sha": repo.commit, "private": false, "gated": repo.gated ? "manual" : false,
                "siblings": siblings,
            ]
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
            )
        }
        let server = try await RunningServer.start(router)
        fake.serverBox.withLockedValue { $0 = server }
        return fake
    }

    var endpoint: String { server.baseURL() }
    func add(_ repo: Repo) {
        state.withLockedValue { $0.repos[repo.id] = repo }
        for (name, data) in repo.files { cdn.add(Self.cdnName(repo.id, name), data) }
    }
    var authorizations: [String?] { state.withLockedValue { $0.authorizations } }
    func stop() async { await server.stop() }

    static func cdnName(_ repo: String, _ path: String) -> String {
        (repo + "--" + path).replacingOccurrences(of: "/", with: "--")
    }

    func resolve(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        state.withLockedValue { $0.authorizations.append(request.headers[.authorization]) }
        let id = "\(context.parameters.get("owner") ?? "")/\(context.parameters.get("repo") ?? "")"
        let path = context.parameters.getCatchAll().joined(separator: "/")
        let revision = context.parameters.get("revision") ?? "main"
        let errorCode = HTTPField.Name("X-Error-Code")!
        guard let repo = state.withLockedValue({ $0.repos[id] }) else {
            return Response(status: .unauthorized, headers: [errorCode: "RepoNotFound"])
        }
        let authorized = request.headers[.authorization] == "Bearer \(token)"
        if repo.gated && !authorized {
            return Response(
                status: .unauthorized,
                headers: [
                    errorCode: "GatedRepo",
                    HTTPField.Name("X-Error-Message")!:
                        "Access to model \(id) is restricted. You must have access to it and be authenticated to access it. Please log in.",
                ]
            )
        }
        guard revision == "main" || revision == repo.commit else {
            return Response(status: .notFound, headers: [errorCode: "RevisionNotFound"])
        }
        guard let data = repo.files[path] else {
            return Response(status: .notFound, headers: [errorCode: "EntryNotFound", HTTPField.Name("X-Repo-Commit")!: repo.commit])
        }
        return Response(
            status: .found,
            headers: [
                .location: cdn.url(Self.cdnName(id, path)) + "?Expires=1893456000&Signature=sig",
                HTTPField.Name("X-Repo-Commit")!: repo.commit,
                HTTPField.Name("X-Linked-Etag")!: "\"\(FakeFileServer.sha256(data))\"",
                HTTPField.Name("X-Linked-Size")!: String(data.count),
                .contentLength: "0",
            ]
        )
    }
}
