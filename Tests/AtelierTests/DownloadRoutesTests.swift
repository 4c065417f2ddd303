import Core
import Foundation
import HTTPTypes
import Hub
import HummingbirdTesting
import NIOConcurrencyHelpers
import Testing

@Suite("Downloads API and seed 000's Civitai routes", .timeLimit(.minutes(5)))
struct DownloadRoutesTests {
    /// Polls a download until it reaches a final state (bounded).
    static func waitForFinal(_ app: TestApp, _ id: String, token: String, timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let response = try await app.request(.get, "/api/v1/downloads/\(id)", token: token)
            if ["succeeded", "failed", "cancelled"].contains(response.json["status"] as? String ?? "") { return response.json }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("download \(id) did not finish in \(timeout)")
        return [:]
    }

    @Test("POST answers 202 at once; the download finishes in the background into the catalog")
    func backgroundDownload() async throws {
        try await HubPullTests.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let (_, token) = try await app.makeUser("puller")
                let created = try await app.request(
                    .post,
                    "/api/v1/downloads",
                    token: token,
                    json: #"{"ref": "civitai:135867", "layout": "comfyui"}"#
                )
                #expect(created.status == .accepted)
                // The worker may already have claimed it by the time the answer is written.
                #expect(["queued", "running"].contains(created.json["status"] as? String ?? ""))
                let id = try #require(created.json["id"] as? String)
                #expect(created.headers[.location]?.hasPrefix("http://") == true)
                #expect(created.headers[.location]?.hasSuffix("/api/v1/downloads/\(id)") == true)
                let final = try await Self.waitForFinal(app, id, token: token)
                #expect(final["status"] as? String == "succeeded")
                let files = try #require(final["files"] as? [[String: Any]])
                let path = try #require(files.first?["path"] as? String)
                #expect(path.hasSuffix("/models/loras/detail_tweaker.safetensors"))
                #expect(FileManager.default.contents(atPath: path) == fakes.lora)
                #expect((final["progress"] as? [String: Any])?["fraction"] as? Double == 1)

                let events = try await app.request(.get, "/api/v1/downloads/\(id)/events", token: token)
                #expect(events.headers[.contentType] == "text/event-stream")
                #expect(String(buffer: events.body).contains("event: done"))
            }
        }
    }

    @Test("the same Idempotency-Key returns the same download; bad input is 422")
    func idempotencyAndValidation() async throws {
        try await HubPullTests.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let (_, token) = try await app.makeUser("twice")
                let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "abc-123"]
                let first = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:135867"}"#, headers: key)
                let second = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:135867"}"#, headers: key)
                #expect(first.json["id"] as? String == second.json["id"] as? String)
                let bad = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "not a thing"}"#)
                #expect(bad.status == .unprocessableContent)
                #expect(bad.detail.hasPrefix("ref:"))
                let kind = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:1", "kind": "blob"}"#)
                #expect(kind.detail.hasPrefix("kind"))
                let layout = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:1", "layout": "/no/such/dir"}"#)
                #expect(layout.detail.hasPrefix("layout"))
            }
        }
    }

    @Test("another user's download is 404; a failed download says why and can be retried")
    func isolationAndFailure() async throws {
        try await HubPullTests.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let (_, owner) = try await app.makeUser("owner1")
                let (_, other) = try await app.makeUser("other1")
                let created = try await app.request(.post, "/api/v1/downloads", token: owner, json: #"{"ref": "civitai:4242"}"#)
                let id = try #require(created.json["id"] as? String)
                #expect(try await app.request(.get, "/api/v1/downloads/\(id)", token: other).status == .notFound)
                #expect(try await app.request(.delete, "/api/v1/downloads/\(id)", token: other).status == .notFound)
                let final = try await Self.waitForFinal(app, id, token: owner)
                #expect(final["status"] as? String == "failed")
                #expect((final["error"] as? String)?.contains("not found on Civitai") == true)
                // Now the version exists: a retry succeeds.
                fakes.civitai.add(
                    .init(
                        id: 4242,
                        modelID: 42,
                        modelName: "Later",
                        type: "Checkpoint",
                        name: "v1",
                        baseModel: "SDXL 1.0",
                        trainedWords: [],
                        fileName: "detail_tweaker.safetensors",
                        sha256: FakeFileServer.sha256(fakes.lora),
                        size: fakes.lora.count
                    )
                )
                let retried = try await app.request(.post, "/api/v1/downloads/\(id)/retry", token: owner)
                #expect(retried.status == .accepted)
                #expect(try await Self.waitForFinal(app, id, token: owner)["status"] as? String == "succeeded")
                #expect(try await app.request(.post, "/api/v1/downloads/\(id)/retry", token: owner).status == .conflict)
            }
        }
    }

    @Test("cancel stops a running download; a retry resumes it from the partial file")
    func cancelAndResume() async throws {
        try await HubPullTests.withFakes { fakes in
            let big = safetensorsContent(size: 3 << 20, seed: 9)
            fakes.cdn.add("big.safetensors", big)
            fakes.civitai.add(
                .init(
                    id: 777,
                    modelID: 77,
                    modelName: "Big",
                    type: "Checkpoint",
                    name: "v1",
                    baseModel: "SDXL 1.0",
                    trainedWords: [],
                    fileName: "big.safetensors",
                    sha256: FakeFileServer.sha256(big),
                    size: big.count
                )
            )
            fakes.cdn.behave { $0.bytesPerSecond = 1 << 20 }
            try await TestApp.run(fakes.settings) { app in
                let token = try await app.login()
                let created = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:777"}"#)
                let id = try #require(created.json["id"] as? String)
                var running = false
                for _ in 0..<200 where !running {
                    let current = try await app.request(.get, "/api/v1/downloads/\(id)", token: token)
                    let received = (current.json["progress"] as? [String: Any])?["received_bytes"] as? Int ?? 0
                    running = current.json["status"] as? String == "running" && received > 0
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(running)
                let cancelled = try await app.request(.delete, "/api/v1/downloads/\(id)", token: token)
                #expect(cancelled.json["status"] as? String == "cancelled")
                #expect(try await app.request(.delete, "/api/v1/downloads/\(id)", token: token).status == .conflict)
                fakes.cdn.behave { $0.bytesPerSecond = nil }
                _ = try await app.request(.post, "/api/v1/downloads/\(id)/retry", token: token)
                let final = try await Self.waitForFinal(app, id, token: token)
                #expect(final["status"] as? String == "succeeded", "\(final["error"] ?? "no error")")
                let path = try #require((final["files"] as? [[String: Any]])?.first?["path"] as? String)
                #expect(FileManager.default.contents(atPath: path) == big)
            }
        }
    }

    @Test("a download queued when the server stops is finished after the next start")
    func survivesRestart() async throws {
        try await HubPullTests.withFakes { fakes in
            let installation = try TestApp.freshInstallation()
            // Slow enough (32 s for the file) that a loaded CI machine cannot finish it before the
            // first server is stopped, which would leave nothing to resume.
            fakes.cdn.behave { $0.bytesPerSecond = 64 << 10 }
            let big = safetensorsContent(size: 2 << 20, seed: 11)
            fakes.cdn.add("slow.safetensors", big)
            fakes.civitai.add(
                .init(
                    id: 888,
                    modelID: 88,
                    modelName: "Slow",
                    type: "Checkpoint",
                    name: "v1",
                    baseModel: "SD 1.5",
                    trainedWords: [],
                    fileName: "slow.safetensors",
                    sha256: FakeFileServer.sha256(big),
                    size: big.count
                )
            )
            let id = NIOLockedBox<String?>(nil)
            try await TestApp.run(installation: installation, fakes.settings) { app in
                let token = try await app.login()
                let created = try await app.request(.post, "/api/v1/downloads", token: token, json: #"{"ref": "civitai:888"}"#)
                let downloadID = try #require(created.json["id"] as? String)
                id.set(downloadID)
                // Stop once part of the file is on disk, so the restart has something to resume.
                var received: Int64 = 0
                for _ in 0..<500 where received == 0 {
                    try await Task.sleep(for: .milliseconds(10))
                    let state = try await app.request(.get, "/api/v1/downloads/\(downloadID)", token: token)
                    received = ((state.json["progress"] as? [String: Any])?["received_bytes"] as? NSNumber)?.int64Value ?? 0
                }
                #expect(received > 0, "the download started before the restart")
            }
            fakes.cdn.behave { $0.bytesPerSecond = nil }
            try await TestApp.run(installation: installation, fakes.settings) { app in
                let token = try await app.login()
                let downloadID = try #require(id.get())
                let final = try await Self.waitForFinal(app, downloadID, token: token)
                #expect(final["status"] as? String == "succeeded")
                #expect((final["attempts"] as? Int ?? 0) >= 2)
            }
            await TestDatabase.cleanUp(installation)
        }
    }

    @Test("seed 000: /civitai/status, and /civitai/download with X-Token in the documented shape")
    func seed000() async throws {
        try await HubPullTests.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let status = try await app.request(.get, "/civitai/status")
                #expect(status.json["status"] as? String == "online")
                #expect(status.json["service"] as? String == "civitai-downloader")

                let admin = try await app.login()
                let key = try #require(try await app.request(.post, "/api/v1/keys", token: admin, json: #"{"name":"bot"}"#).json["key"] as? String)
                let xToken: HTTPFields = [HTTPField.Name("X-Token")!: key]
                let ok = try await app.request(.post, "/civitai/download", json: #"{"url": "https://civitai.com/models/58390"}"#, headers: xToken)
                #expect(ok.status == .ok)
                #expect(ok.json["success"] as? Bool == true)
                #expect(ok.json["message"] as? String == "Model downloaded successfully")
                #expect(ok.json["filename"] as? String == "detail_tweaker.safetensors")
                #expect(ok.json["model_name"] as? String == "Detail Tweaker LoRA")
                #expect(ok.json["version_name"] as? String == "v1.0")
                #expect(FileManager.default.fileExists(atPath: ok.json["path"] as? String ?? ""))

                #expect(
                    try await app.request(.post, "/civitai/download", json: #"{"url": "https://civitai.com/models/58390"}"#).status == .unauthorized
                )
                let bad = try await app.request(.post, "/civitai/download", json: #"{"url": "https://example.com/x"}"#, headers: xToken)
                #expect(bad.status == .badRequest)
                #expect(bad.json["success"] as? Bool == false)
                let missing = try await app.request(.post, "/civitai/download", json: #"{"url": "civitai:999999"}"#, headers: xToken)
                #expect(missing.status == .notFound)
                #expect((missing.json["message"] as? String)?.isEmpty == false)

                CivitaiErrorTests.addMembersOnly(fakes, wall: .unauthorizedJSON)
                let refused = try await app.request(
                    .post,
                    "/civitai/download",
                    json: #"{"url": "https://civitai.com/api/download/models/5150", "api_key": "wrong"}"#,
                    headers: xToken
                )
                #expect(refused.status == .unauthorized)
                #expect((refused.json["message"] as? String)?.contains("rejected the API key") == true)
                let allowed = try await app.request(
                    .post,
                    "/civitai/download",
                    json: #"{"url": "civitai:5150", "api_key": "\#(fakes.civitai.token)"}"#,
                    headers: xToken
                )
                #expect(allowed.status == .ok)
            }
        }
    }
}

/// A tiny locked box for passing a value out of a @Sendable test closure.
final class NIOLockedBox<Value: Sendable>: Sendable {
    private let box: NIOLockedValueBox<Value>
    init(_ value: Value) { box = NIOLockedValueBox(value) }
    func set(_ value: Value) { box.withLockedValue { $0 = value } }
    func get() -> Value { box.withLockedValue { $0 } }
}
