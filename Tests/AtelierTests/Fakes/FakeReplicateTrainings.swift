import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore

/// Replicate's files and trainings APIs as the studio uses them: `POST /v1/files` (multipart part
/// `content`) → `urls.get`; `POST /v1/models/{owner}/{name}/versions/{version}/trainings` →
/// a training; `GET /v1/trainings/{id}` → `processing` for a few polls, then `succeeded` with
/// `output.weights`, a tar holding `output/flux_train_replicate/lora.safetensors` (served from
/// another host without credentials, as replicate.delivery does), or `failed`.
final class FakeReplicateTrainings: Sendable {
    struct State: Sendable {
        var uploads: [String: Data] = [:]
        var trainings: [String: (body: [String: String], polls: Int)] = [:]
        var pollsUntilDone = 1
        var failNext = false
        var failed: Set<String> = []
    }

    let state = NIOLockedValueBox(State())
    let token = "r8_test_token"
    let destination = "me/studio-loras"
    let lora: Data
    private let serverBox = NIOLockedValueBox<RunningServer?>(nil)
    var server: RunningServer { serverBox.withLockedValue { $0! } }
    var apiURL: String { server.baseURL() + "/v1" }

    init(lora: Data) { self.lora = lora }

    static func start(lora: Data) async throws -> FakeReplicateTrainings {
        let fake = FakeReplicateTrainings(lora: lora)
        let router = Router()
        @Sendable func authorized(_ request: Request) -> Bool { request.headers[.authorization] == "Bearer \(fake.token)" }
        router.post("/v1/files") { request, _ in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated", "status": 401]) }
            let body = Data(buffer: try await request.body.collect(upTo: 64 << 20))
            let parts = MultipartParts.parse(body, contentType: request.headers[.contentType] ?? "")
            guard let content = parts["content"] else {
                return FakeGPU.json(.badRequest, ["detail": "content is required", "status": 400])
            }
            let id = "file\(Int.random(in: 100_000...999_999))"
            fake.state.withLockedValue { $0.uploads[id] = content.data }
            return FakeGPU.json(
                .created,
                [
                    "id": id, "name": content.filename ?? "file", "content_type": "application/zip", "size": content.data.count,
                    "etag": "d41d8cd98f00b204e9800998ecf8427e", "checksums": ["sha256": "", "md5": ""], "metadata": [:],
                    "created_at": "2026-12-06T12:00:00Z", "expires_at": "2026-12-07T12:00:00Z",
                    "urls": ["get": "\(fake.apiURL)/files/\(id)"],
                ]
            )
        }
        router.post("/v1/models/{owner}/{name}/versions/{version}/trainings") { request, _ in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated", "status": 401]) }
            let body = FakeGPU.object(Data(buffer: try await request.body.collect(upTo: 1 << 20)))
            guard body["destination"] as? String == fake.destination else {
                return Response(
                    status: .notFound,
                    headers: [.contentType: "application/problem+json"],
                    body: .init(byteBuffer: ByteBuffer(string: #"{"detail":"The specified training destination does not exist","status":404}"#))
                )
            }
            let input = (body["input"] as? [String: Any] ?? [:]).mapValues { "\($0)" }
            let id = "tr\(Int.random(in: 100_000...999_999))"
            fake.state.withLockedValue { state in
                state.trainings[id] = (input, 0)
                if state.failNext {
                    state.failed.insert(id)
                    state.failNext = false
                }
            }
            return FakeGPU.json(.created, fake.training(id, status: "starting"))
        }
        router.get("/v1/trainings/{id}") { request, context in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated", "status": 401]) }
            let id = context.parameters.get("id") ?? ""
            let status: String? = fake.state.withLockedValue { state in
                guard var training = state.trainings[id] else { return nil }
                training.polls += 1
                state.trainings[id] = training
                if training.polls <= state.pollsUntilDone { return "processing" }
                return state.failed.contains(id) ? "failed" : "succeeded"
            }
            guard let status else { return FakeGPU.json(.notFound, ["detail": "Not found.", "status": 404]) }
            return FakeGPU.json(.ok, fake.training(id, status: status))
        }
        router.get("/delivery/{id}/trained_model.tar") { request, _ in
            guard request.headers[.authorization] == nil else { return FakeGPU.json(.badRequest, ["detail": "no credentials here"]) }
            return Response(status: .ok, headers: [.contentType: "application/x-tar"], body: .init(byteBuffer: ByteBuffer(data: fake.weightsTar())))
        }
        let server = try await RunningServer.start(router)
        fake.serverBox.withLockedValue { $0 = server }
        return fake
    }

    func stop() async { await server.stop() }

    func training(_ id: String, status: String) -> [String: Any] {
        var object: [String: Any] = [
            "id": id, "model": "ostris/flux-dev-lora-trainer", "version": "e440909d3512c31646ee2e0c7d6f6f4923224863a6a10c494606e79fb5844497",
            "input": state.withLockedValue { $0.trainings[id]?.body } ?? [:], "logs": "", "error": NSNull(), "status": status,
            "created_at": "2026-12-06T12:00:00Z",
            "urls": ["get": "\(apiURL)/trainings/\(id)", "cancel": "\(apiURL)/trainings/\(id)/cancel"],
        ]
        if status == "succeeded" {
            object["output"] = [
                "version": "\(destination):925da5f5", "weights": "\(server.baseURL(host: "localhost"))/delivery/\(id)/trained_model.tar",
            ]
        }
        if status == "failed" { object["error"] = "CUDA out of memory" }
        return object
    }

    /// A tar as the trainer delivers it: captions first, then the LoRA.
    func weightsTar() -> Data {
        var tar = Data()
        for (name, content) in [
            ("output/flux_train_replicate/captions/photo_01.txt", Data("a photo of TOK".utf8)),
            ("output/flux_train_replicate/lora.safetensors", lora),
        ] {
            var header = Data(count: 512)
            func put(_ text: String, at offset: Int, length: Int) {
                let bytes = Array(text.utf8.prefix(length))
                header.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            }
            put(name, at: 0, length: 100)
            put("0000644\0", at: 100, length: 8)
            put("0000000\0", at: 108, length: 8)
            put("0000000\0", at: 116, length: 8)
            put(String(format: "%011o\0", content.count), at: 124, length: 12)
            put("14712345670\0", at: 136, length: 12)
            put("        ", at: 148, length: 8)
            put("0", at: 156, length: 1)
            put("ustar\0", at: 257, length: 6)
            put("00", at: 263, length: 2)
            let sum = header.reduce(0) { $0 + Int($1) }
            put(String(format: "%06o\0 ", sum), at: 148, length: 8)
            tar.append(header)
            tar.append(content)
            tar.append(Data(count: (512 - content.count % 512) % 512))
        }
        tar.append(Data(count: 1024))
        return tar
    }
}
