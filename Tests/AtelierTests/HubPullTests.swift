import Core
import Foundation
import Hub
import Testing

/// `HubService.pull` end to end: fake Civitai and Hugging Face on loopback, a fake CDN on another
/// origin, the real downloader, placement, sidecars and catalog on this run's database.
@Suite("Pulling from Civitai and Hugging Face", .timeLimit(.minutes(5)))
struct HubPullTests {
    struct Fakes: Sendable {
        let cdn: FakeFileServer
        let civitai: FakeCivitai
        let hf: FakeHuggingFace
        let lora: Data
        let checkpoint: Data

        var settings: [String: String] {
            [
                "ATELIER_CIVITAI_URL": civitai.baseURL, "HF_ENDPOINT": hf.endpoint, "ATELIER_ALLOW_PRIVATE_HOSTS": "true",
                "ATELIER_PULL_CONNECTIONS": "4",
            ]
        }
    }

    static func withFakes(_ body: @Sendable (Fakes) async throws -> Void) async throws {
        let cdn = try await FakeFileServer.start()
        let civitai = try await FakeCivitai.start(cdn: cdn)
        let hf = try await FakeHuggingFace.start(cdn: cdn)
        let lora = safetensorsContent(size: 600_000, seed: 1)
        let checkpoint = safetensorsContent(size: 900_000, seed: 2)
        cdn.add("detail_tweaker.safetensors", lora)
        cdn.add("preview.png", Data([0x89, 0x50, 0x4E, 0x47]) + FakeFileServer.content(size: 100))
        civitai.add(
            .init(
                id: 135867,
                modelID: 58390,
                modelName: "Detail Tweaker LoRA",
                type: "LORA",
                name: "v1.0",
                baseModel: "SD 1.5",
                trainedWords: ["detailed"],
                fileName: "detail_tweaker.safetensors",
                sha256: FakeFileServer.sha256(lora),
                size: lora.count,
                previewURL: nil
            )
        )
        hf.add(.init(id: "owner/sdxl-base", files: ["sd_xl_base.safetensors": checkpoint, "vae/diffusion.safetensors": lora]))
        hf.add(.init(id: "owner/gated", files: ["g.safetensors": lora], gated: true))
        let fakes = Fakes(cdn: cdn, civitai: civitai, hf: hf, lora: lora, checkpoint: checkpoint)
        let result = await Result { try await body(fakes) }
        await hf.stop()
        await civitai.stop()
        await cdn.stop()
        try result.get()
    }

    @Test(
        "every Civitai reference form pulls the same LoRA into the layout, with metadata and a catalog entry",
        arguments: [
            "https://civitai.com/models/58390", "https://civitai.com/models/58390/detail-tweaker?modelVersionId=135867",
            "https://civitai.com/api/download/models/135867", "urn:air:sd1:lora:civitai:58390@135867", "civitai:135867",
        ]
    )
    func civitaiForms(reference: String) async throws {
        try await Self.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let layout = try app.runtime.hub.layout("a1111")
                let pulled = try await app.runtime.hub.pull(try HubReference.parse(reference), layout: layout)
                let file = try #require(pulled.first)
                #expect(file.path.hasSuffix("/models/Lora/detail_tweaker.safetensors"))
                #expect(FileManager.default.contents(atPath: file.path) == fakes.lora)
                #expect(file.entry.kind == .lora)
                #expect(file.entry.triggerWords == ["detailed"])
                #expect(file.entry.civitaiVersionID == 135867)
                let sidecar =
                    try JSONSerialization.jsonObject(
                        with: Data(contentsOf: URL(fileURLWithPath: (file.path as NSString).deletingPathExtension + ".json"))
                    ) as? [String: Any]
                #expect(sidecar?["activation text"] as? String == "detailed")
                let entry = try await app.runtime.hub.catalog.find(key: "detail-tweaker-lora")
                #expect(entry?.sha256 == FakeFileServer.sha256(fakes.lora))
            }
        }
    }

    @Test("a second pull of the same content downloads nothing")
    func dedup() async throws {
        try await Self.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let reference = try HubReference.parse("civitai:135867")
                let layout = try app.runtime.hub.layout(nil)
                _ = try await app.runtime.hub.pull(reference, layout: layout)
                let sent = fakes.cdn.bytesSent
                let again = try await app.runtime.hub.pull(reference, layout: layout)
                #expect(again.first?.alreadyPresent == true)
                #expect(fakes.cdn.bytesSent == sent)
            }
        }
    }

    @Test("a different file already under the same name is kept; the new one gets a distinct name")
    func nameClash() async throws {
        try await Self.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let layout = try app.runtime.hub.layout(nil)
                let folder = layout.folder(for: .lora)
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                let mine = (folder as NSString).appendingPathComponent("detail_tweaker.safetensors")
                try Data("my own file".utf8).write(to: URL(fileURLWithPath: mine))
                let pulled = try await app.runtime.hub.pull(.civitaiVersion(versionID: 135867, query: [:]), layout: layout)
                let path = try #require(pulled.first?.path)
                #expect(path != mine)
                #expect(path.hasSuffix("detail_tweaker-\(FakeFileServer.sha256(fakes.lora).prefix(8)).safetensors"))
                #expect(FileManager.default.contents(atPath: mine) == Data("my own file".utf8))
                #expect(FileManager.default.contents(atPath: path) == fakes.lora)
            }
        }
    }

    @Test("a Civitai file that needs a login says to set CIVITAI_API_TOKEN; with the token it downloads")
    func civitaiToken() async throws {
        try await Self.withFakes { fakes in
            fakes.civitai.state.withLockedValue { $0.versions[135867]?.requiresAuth = true }
            try await TestApp.run(fakes.settings) { app in
                do {
                    _ = try await app.runtime.hub.pull(.civitaiVersion(versionID: 135867, query: [:]), layout: try app.runtime.hub.layout(nil))
                    Issue.record("downloaded without a token")
                } catch let error as AppError {
                    // Seed 000's list: a model that needs a login is a 403 "needs an API key".
                    #expect(error.status == .forbidden)
                    #expect(error.detail.contains("CIVITAI_API_TOKEN"))
                }
                let pulled = try await app.runtime.hub.pull(
                    .civitaiVersion(versionID: 135867, query: [:]),
                    layout: try app.runtime.hub.layout(nil),
                    civitaiToken: Secret(fakes.civitai.token)
                )
                #expect(pulled.count == 1)
                #expect(fakes.cdn.records.allSatisfy { $0.authorization == nil })
            }
        }
    }

    @Test("early access, unknown versions and rate limits explain themselves")
    func civitaiErrors() async throws {
        try await Self.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let layout = try app.runtime.hub.layout(nil)
                await #expect(throws: AppError.self) {
                    _ = try await app.runtime.hub.pull(.civitaiVersion(versionID: 999, query: [:]), layout: layout)
                }
                fakes.civitai.state.withLockedValue { $0.versions[135867]?.earlyAccess = true }
                do {
                    _ = try await app.runtime.hub.pull(.civitaiVersion(versionID: 135867, query: [:]), layout: layout)
                } catch let error as AppError {
                    #expect(error.status == .forbidden)
                    #expect(error.detail.contains("Early Access"))
                }
                fakes.civitai.state.withLockedValue {
                    $0.versions[135867]?.earlyAccess = false
                    $0.rateLimited = true
                }
                do {
                    _ = try await app.runtime.hub.pull(.civitaiVersion(versionID: 135867, query: [:]), layout: layout)
                } catch let error as AppError {
                    #expect(error.status == .tooManyRequests)
                    #expect(error.headers[.retryAfter] != nil)
                }
            }
        }
    }

    @Test("Hugging Face: one file by hf: and by URL, a whole repository, and a gated repository")
    func huggingFace() async throws {
        try await Self.withFakes { fakes in
            try await TestApp.run(fakes.settings) { app in
                let layout = try app.runtime.hub.layout("comfyui")
                let one = try await app.runtime.hub.pull(try HubReference.parse("hf:owner/sdxl-base/sd_xl_base.safetensors"), layout: layout)
                #expect(one.first?.path.hasSuffix("/models/checkpoints/sd_xl_base.safetensors") == true)
                #expect(one.first?.sha256 == FakeFileServer.sha256(fakes.checkpoint))
                #expect(one.first?.entry.hfRepo == "owner/sdxl-base")

                let whole = try await app.runtime.hub.pull(try HubReference.parse("hf:owner/sdxl-base"), layout: layout)
                #expect(whole.count == 2)
                #expect(whole.contains { $0.path.hasSuffix("owner--sdxl-base/vae/diffusion.safetensors") })

                // A huggingface.co link to a file of it: asked of HF_ENDPOINT, and found already present.
                let byURL = try await app.runtime.hub.pull(
                    try HubReference.parse("https://huggingface.co/owner/sdxl-base/blob/main/vae/diffusion.safetensors"),
                    layout: layout,
                    kind: .vae
                )
                #expect(byURL.first?.alreadyPresent == true)
                #expect(byURL.first?.sha256 == FakeFileServer.sha256(fakes.lora))
                #expect(fakes.hf.authorizations.count >= 3)

                do {
                    _ = try await app.runtime.hub.pull(try HubReference.parse("hf:owner/gated/g.safetensors"), layout: layout)
                    Issue.record("gated repository downloaded without a token")
                } catch let error as AppError {
                    #expect(error.detail.contains("gated"))
                    #expect(error.detail.contains("HF_TOKEN"))
                }
                do {
                    _ = try await app.runtime.hub.pull(try HubReference.parse("hf:owner/sdxl-base/missing.safetensors"), layout: layout)
                } catch let error as AppError {
                    #expect(error.status == .notFound)
                }
            }
        }
    }
}
