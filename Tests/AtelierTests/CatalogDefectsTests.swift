import Foundation
import Testing

/// Catalog entries as seed 003 writes them, run through the queue: a whole Hugging Face repo,
/// an entry with only a Civitai model id, and an entry's VAE.
@Suite("Catalog entries reach the GPU as meant", .timeLimit(.minutes(5)))
struct CatalogDefectsTests {
    static func importCatalog(_ app: TestApp, _ token: String, _ json: String) async throws {
        let imported = try await app.request(.post, "/api/v1/models/import", token: token, json: json)
        try #require(imported.status == .ok, "\(String(buffer: imported.body))")
    }

    @Test("an entry whose path is a whole Hugging Face repo gives the job the repo's single-file checkpoint, not its README")
    func wholeRepoGivesTheModelFile() async throws {
        try await HubPullTests.withFakes { fakes in
            let weights = safetensorsContent(size: 400_000, seed: 31)
            fakes.hf.add(
                .init(
                    id: "stabilityai/sdxl-like",
                    files: [
                        "README.md": Data("# model card".utf8), "model_index.json": Data("{}".utf8),
                        "unet/diffusion_pytorch_model.safetensors": safetensorsContent(size: 500_000, seed: 32),
                        "sd_xl_base_1.0.safetensors": weights,
                    ]
                )
            )
            let comfy = try await FakeComfyUI.start()
            let result = await Result {
                try await TestApp.run(fakes.settings.merging(BackendTests.fast) { $1 }) { app in
                    let token = try await app.login()
                    try await Self.importCatalog(app, token, #"{"AVAILABLE_MODELS": {"sdxl": {"name": "SDXL", "path": "stabilityai/sdxl-like"}}}"#)
                    _ = try await BackendTests.onlyWorker(
                        app,
                        token,
                        #"{"name": "comfy", "backend": "comfyui", "endpoint": "\#(comfy.url)", "options": {"poll_ms": 20}}"#
                    )
                    let job = try await BackendTests.waitFor(
                        app,
                        token,
                        try await BackendTests.submit(app, token, #"{"prompt": "a bridge", "model": "sdxl"}"#)
                    )
                    #expect(job["status"] as? String == "success", "\(job)")
                    let graph = try #require(comfy.graphs().first)
                    let loader = (graph["4"] as? [String: Any])?["inputs"] as? [String: Any]
                    #expect(loader?["ckpt_name"] as? String == "sd_xl_base_1.0.safetensors")
                    let entry = try await app.request(.get, "/api/v1/models/sdxl", token: token)
                    #expect(entry.json["status"] as? String == "available")
                    let shown = try #require(entry.json["path"] as? String)
                    #expect(shown.hasSuffix("sd_xl_base_1.0.safetensors"), "\(shown)")
                    let onDisk = (app.runtime.hub.settings.modelsRoot as NSString).appendingPathComponent(shown)
                    #expect(FileManager.default.contents(atPath: onDisk) == weights)
                }
            }
            await comfy.stop()
            try result.get()
        }
    }

    @Test("an entry with only civitai_model_id is pulled on demand (the model's newest version)")
    func civitaiModelIDOnly() async throws {
        try await HubPullTests.withFakes { fakes in
            let comfy = try await FakeComfyUI.start()
            let result = await Result {
                try await TestApp.run(fakes.settings.merging(BackendTests.fast) { $1 }) { app in
                    let token = try await app.login()
                    try await Self.importCatalog(app, token, #"{"AVAILABLE_LORAS": {"detail": {"name": "Detail", "civitai_model_id": 58390}}}"#)
                    _ = try await BackendTests.onlyWorker(
                        app,
                        token,
                        #"{"name": "comfy", "backend": "comfyui", "endpoint": "\#(comfy.url)", "options": {"poll_ms": 20, "default_checkpoint": "base.safetensors"}}"#
                    )
                    let job = try await BackendTests.waitFor(
                        app,
                        token,
                        try await BackendTests.submit(app, token, #"{"prompt": "a bridge", "loras": [{"name": "detail"}]}"#)
                    )
                    #expect(job["status"] as? String == "success", "\(job)")
                    let graph = try #require(comfy.graphs().first)
                    let lora = (graph["atelier_lora_1"] as? [String: Any])?["inputs"] as? [String: Any]
                    #expect(lora?["lora_name"] as? String == "detail_tweaker.safetensors")
                    let entry = try await app.request(.get, "/api/v1/models/detail", token: token)
                    #expect(entry.json["status"] as? String == "available")
                    #expect(entry.json["civitai_version_id"] as? Int == 135867)
                }
            }
            await comfy.stop()
            try result.get()
        }
    }

    @Test("vae_path reaches A1111 as a per-request sd_vae and ComfyUI as a VAELoader wired to the decoder; a repo VAE is pulled")
    func vaeReachesBackends() async throws {
        try await HubPullTests.withFakes { fakes in
            let vae = safetensorsContent(size: 200_000, seed: 33)
            fakes.hf.add(
                .init(
                    id: "madebyollin/sdxl-vae-fp16-fix",
                    files: [
                        "README.md": Data("# vae".utf8), "config.json": Data("{}".utf8), "sdxl_vae.safetensors": vae,
                        "diffusion_pytorch_model.safetensors": safetensorsContent(size: 100_000, seed: 34),
                    ]
                )
            )
            let a1111 = try await FakeA1111.start()
            a1111.state.withLockedValue { $0.installed.append("my-sdxl.safetensors") }
            let comfy = try await FakeComfyUI.start()
            let result = await Result {
                try await TestApp.run(fakes.settings.merging(BackendTests.fast) { $1 }) { app in
                    let token = try await app.login()
                    let models = app.runtime.hub.settings.modelsRoot
                    for folder in ["checkpoints", "vae"] {
                        try FileManager.default.createDirectory(
                            atPath: (models as NSString).appendingPathComponent(folder),
                            withIntermediateDirectories: true
                        )
                    }
                    let checkpoint = (models as NSString).appendingPathComponent("checkpoints/my-sdxl.safetensors")
                    try fakes.checkpoint.write(to: URL(fileURLWithPath: checkpoint))
                    let localVAE = (models as NSString).appendingPathComponent("vae/local_vae.safetensors")
                    try vae.write(to: URL(fileURLWithPath: localVAE))
                    try await Self.importCatalog(
                        app,
                        token,
                        """
                        {"AVAILABLE_MODELS": {
                          "local": {"name": "Local VAE", "path": "\(checkpoint)", "vae_path": "\(localVAE)"},
                          "repo": {"name": "Repo VAE", "path": "\(checkpoint)", "vae_path": "madebyollin/sdxl-vae-fp16-fix"},
                          "plain": {"name": "Own VAE", "path": "\(checkpoint)"}}}
                        """
                    )

                    _ = try await BackendTests.onlyWorker(app, token, #"{"name": "a1111", "backend": "a1111", "endpoint": "\#(a1111.url)"}"#)
                    for model in ["local", "plain"] {
                        let job = try await BackendTests.waitFor(
                            app,
                            token,
                            try await BackendTests.submit(app, token, #"{"prompt": "a bridge", "model": "\#(model)"}"#)
                        )
                        #expect(job["status"] as? String == "success", "\(job)")
                    }
                    let bodies = a1111.bodies("/sdapi/v1/txt2img")
                    try #require(bodies.count == 2)
                    let overrides = bodies[0]["override_settings"] as? [String: Any]
                    #expect(overrides?["sd_vae"] as? String == "local_vae.safetensors")
                    #expect(bodies[0]["override_settings_restore_afterwards"] as? Bool == true)
                    #expect(bodies[1]["override_settings"] == nil, "an entry without a VAE keeps the checkpoint's")

                    let comfyWorker = try await BackendTests.onlyWorker(
                        app,
                        token,
                        #"{"name": "comfy", "backend": "comfyui", "endpoint": "\#(comfy.url)", "options": {"poll_ms": 20}}"#,
                        replacing: "a1111"
                    )
                    _ = comfyWorker
                    let job = try await BackendTests.waitFor(
                        app,
                        token,
                        try await BackendTests.submit(app, token, #"{"prompt": "a bridge", "model": "repo"}"#)
                    )
                    #expect(job["status"] as? String == "success", "\(job)")
                    let graph = try #require(comfy.graphs().first)
                    func inputs(_ id: String) -> [String: Any] { ((graph[id] as? [String: Any])?["inputs"] as? [String: Any]) ?? [:] }
                    #expect((graph["atelier_vae"] as? [String: Any])?["class_type"] as? String == "VAELoader")
                    #expect(inputs("atelier_vae")["vae_name"] as? String == "sdxl_vae.safetensors")
                    #expect(inputs("8")["vae"] as? NSArray == ["atelier_vae", 0] as NSArray)
                    let pulled = (models as NSString).appendingPathComponent("vae/sdxl_vae.safetensors")
                    #expect(FileManager.default.contents(atPath: pulled) == vae)
                }
            }
            await a1111.stop()
            await comfy.stop()
            try result.get()
        }
    }
}
