import AtelierApp
import Core
import Foundation
import Generation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import Testing

/// Each backend adapter against a fake of its service on loopback, through the real API, queue,
/// worker pool and image store.
@Suite("GPU backends: A1111, ComfyUI, RunPod, Replicate", .timeLimit(.minutes(5)))
struct BackendTests {
    static let fast = ["ATELIER_GENERATIONS_PER_HOUR": "0", "ATELIER_JOB_RETRY_BASE_MS": "50"]

    /// Replaces the default mock worker with the one described by `json`; returns its id.
    static func onlyWorker(_ app: TestApp, _ token: String, _ json: String, replacing: String = "mock") async throws -> String {
        var mock: String?
        for _ in 0..<200 where mock == nil {
            let list = try await app.request(.get, "/api/v1/workers", token: token)
            mock = (list.json["items"] as? [[String: Any]])?.first { $0["name"] as? String == replacing }?["id"] as? String
            if mock == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let deleted = try await app.request(.delete, "/api/v1/workers/\(try #require(mock))", token: token)
        #expect(deleted.status == .noContent)
        let created = try await app.request(.post, "/api/v1/workers", token: token, json: json)
        try #require(created.status == .created, "adding the worker failed: \(String(buffer: created.body))")
        let id = try #require(created.json["id"] as? String)
        // The pool applies the change on its next look at the table: wait for it, so no job of
        // the test meets the mock.
        let pool = app.runtime.generation.pool
        for _ in 0..<250 where pool.isRunning(mock!) || !pool.isRunning(id) { try await Task.sleep(for: .milliseconds(20)) }
        try #require(!pool.isRunning(mock!) && pool.isRunning(id), "the pool did not switch workers")
        return id
    }

    static func submit(_ app: TestApp, _ token: String, _ json: String) async throws -> String {
        let created = try await app.request(.post, "/api/v1/generations", token: token, json: json)
        try #require(created.status == .accepted, "submit failed: \(String(buffer: created.body))")
        return try #require(created.json["id"] as? String)
    }

    static func waitFor(
        _ app: TestApp,
        _ token: String,
        _ id: String,
        states: Set<String> = ["success", "failed", "cancelled"]
    ) async throws -> [String: Any] {
        for _ in 0..<600 {
            let job = try await app.request(.get, "/api/v1/generations/\(id)", token: token)
            if states.contains(job.json["status"] as? String ?? "") { return job.json }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("generation \(id) did not reach \(states)")
        return [:]
    }

    static func image(_ app: TestApp, _ job: [String: Any]) async throws -> Data {
        let url = try #require((job["result"] as? [String: Any])?["image_urls"] as? [String]).first
        let response = try await app.request(.get, try #require(url))
        return Data(buffer: response.body)
    }

    @Test("A1111: switches the checkpoint once through /sdapi/v1/options, sends LoRA tags and Basic auth, stores the PNG")
    func a1111HappyPath() async throws {
        let fake = try await FakeA1111.start()
        defer { Task { await fake.stop() } }
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            _ = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(fake.url)", "token": "webui:secret-pass", "models": ["sdxl_base.safetensors", "v1-5-pruned-emaonly.safetensors"]}"#
            )
            var ids: [String] = []
            for prompt in ["a lighthouse", "a harbour"] {
                ids.append(
                    try await Self.submit(
                        app,
                        token,
                        #"{"prompt": "\#(prompt)", "model": "sdxl_base.safetensors", "seed": 7, "loras": [{"name": "detail-tweaker.safetensors", "weight": 0.8}], "width": 1024, "height": 1024}"#
                    )
                )
            }
            for id in ids {
                let job = try await Self.waitFor(app, token, id)
                #expect(job["status"] as? String == "success")
                #expect((job["result"] as? [String: Any])?["backend"] as? String == "a1111@gpu-1")
                #expect(try await Self.image(app, job) == FakeGPU.png)
            }
            // The checkpoint lives in a subfolder: A1111 is sent its own title for it, which
            // it accepts (it refuses the bare file name).
            #expect(fake.state.withLockedValue { $0.switches } == ["SDXL/sdxl_base.safetensors [0123456789]"])
            let body = try #require(fake.bodies("/sdapi/v1/txt2img").first)
            #expect(body["prompt"] as? String == "a lighthouse <lora:detail-tweaker:0.8>")
            #expect(body["seed"] as? Int == 7 && body["width"] as? Int == 1024)
            let auth = fake.script.withLockedValue { $0.requests.first { $0.path == "/sdapi/v1/txt2img" }?.authorization }
            #expect(auth == "Basic \(Data("webui:secret-pass".utf8).base64EncodedString())")
            // The worker shows what it has loaded, and never its token.
            let workers = try await app.request(.get, "/api/v1/workers", token: token)
            #expect(!String(buffer: workers.body).contains("secret-pass"))
            #expect((workers.json["items"] as? [[String: Any]])?.first?["has_token"] as? Bool == true)
        }
    }

    @Test("A1111 renders one job at a time: its slot takes the next job only when the last render is done")
    func a1111OneAtATime() async throws {
        let fake = try await FakeA1111.start()
        defer { Task { await fake.stop() } }
        fake.state.withLockedValue { $0.renderTime = .milliseconds(30) }
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            _ = try await Self.onlyWorker(app, token, #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(fake.url)"}"#)
            var ids: [String] = []
            for n in 0..<6 { ids.append(try await Self.submit(app, token, #"{"prompt": "picture \#(n)"}"#)) }
            for id in ids { #expect(try await Self.waitFor(app, token, id)["status"] as? String == "success") }
            #expect(fake.bodies("/sdapi/v1/txt2img").count == 6)
            #expect(fake.state.withLockedValue { $0.mostAtOnce } == 1)
        }
    }

    @Test("A1111: 503s and a cut connection are retried; a backend that keeps failing ends failed, naming it")
    func a1111Retries() async throws {
        let fake = try await FakeA1111.start()
        defer { Task { await fake.stop() } }
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            _ = try await Self.onlyWorker(app, token, #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(fake.url)"}"#)
            fake.script.withLockedValue {
                $0.failures = 1
                $0.cuts = 1
            }
            let recovered = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "third time lucky"}"#))
            #expect(recovered["status"] as? String == "success")
            #expect(recovered["attempt"] as? Int == 3)
            fake.script.withLockedValue { $0.failures = 10 }
            let failed = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "never"}"#))
            #expect(failed["status"] as? String == "failed")
            #expect(failed["attempt"] as? Int == 3)
            let error = try #require(failed["error"] as? String)
            #expect(error.contains("a1111@gpu-1") && error.contains("503") && error.contains("CUDA out of memory"))
        }
    }

    @Test("A1111: a checkpoint it does not have fails at once with advice; cancel while rendering interrupts the GPU")
    func a1111MissingModelAndInterrupt() async throws {
        let fake = try await FakeA1111.start()
        defer { Task { await fake.stop() } }
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            _ = try await Self.onlyWorker(app, token, #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(fake.url)"}"#)
            let missing = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "x", "model": "flux-dev.safetensors"}"#))
            #expect(missing["status"] as? String == "failed")
            #expect(missing["attempt"] as? Int == 1)
            #expect((missing["error"] as? String)?.contains("'flux-dev.safetensors' is not installed") == true)

            // Two checkpoints of one file name in two folders: the bare name is ambiguous and
            // fails at once, saying so; the name with its folder picks that one.
            fake.state.withLockedValue { $0.installed += ["SD15/dreamy.safetensors", "SDXL/dreamy.safetensors"] }
            let ambiguous = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "x", "model": "dreamy.safetensors"}"#))
            #expect(ambiguous["status"] as? String == "failed" && ambiguous["attempt"] as? Int == 1)
            #expect((ambiguous["error"] as? String)?.contains("several checkpoints here are named 'dreamy.safetensors'") == true)
            let chosen = try await Self.waitFor(
                app,
                token,
                try await Self.submit(app, token, #"{"prompt": "x", "model": "SDXL/dreamy.safetensors"}"#)
            )
            #expect(chosen["status"] as? String == "success")
            #expect(fake.state.withLockedValue { $0.switches } == ["SDXL/dreamy.safetensors [0123456789]"])

            fake.state.withLockedValue { $0.renderTime = .seconds(20) }
            let id = try await Self.submit(app, token, #"{"prompt": "slow"}"#)
            _ = try await Self.waitFor(app, token, id, states: ["started"])
            for _ in 0..<200 where !fake.state.withLockedValue({ $0.rendering }) { try await Task.sleep(for: .milliseconds(10)) }
            let cancelled = try await app.request(.delete, "/api/v1/generations/\(id)", token: token)
            #expect(cancelled.json["status"] as? String == "cancelled")
            for _ in 0..<200 where fake.state.withLockedValue({ $0.interrupts }) == 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(fake.state.withLockedValue { $0.interrupts } == 1)
        }
    }

    @Test("ComfyUI: fills the workflow, chains LoRA loaders, follows /history and fetches /view; a refused workflow names the node")
    func comfyUI() async throws {
        let fake = try await FakeComfyUI.start()
        defer { Task { await fake.stop() } }
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            _ = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "comfy-1", "backend": "comfyui", "endpoint": "\#(fake.url)", "concurrency": 2, "options": {"poll_ms": 20, "default_checkpoint": "sd_xl_base_1.0.safetensors"}}"#
            )
            let job = try await Self.waitFor(
                app,
                token,
                try await Self.submit(
                    app,
                    token,
                    #"{"prompt": "a cat in a hat", "negative_prompt": "blurry", "seed": 99, "steps": 12, "loras": [{"name": "pixel-art", "weight": 0.6}, {"name": "film.safetensors"}]}"#
                )
            )
            #expect(job["status"] as? String == "success")
            #expect(try await Self.image(app, job) == FakeGPU.png)
            let graph = try #require(fake.graphs().first)
            func node(_ id: String) -> [String: Any] { ((graph[id] as? [String: Any])?["inputs"] as? [String: Any]) ?? [:] }
            #expect(node("3")["seed"] as? Int == 99 && node("3")["steps"] as? Int == 12)
            #expect(node("4")["ckpt_name"] as? String == "sd_xl_base_1.0.safetensors")
            #expect(node("6")["text"] as? String == "a cat in a hat" && node("7")["text"] as? String == "blurry")
            #expect(node("atelier_lora_1")["lora_name"] as? String == "pixel-art.safetensors")
            #expect(node("atelier_lora_1")["model"] as? [Any] as? NSArray == ["4", 0] as NSArray)
            #expect(node("atelier_lora_2")["model"] as? NSArray == ["atelier_lora_1", 0] as NSArray)
            // The sampler and both text encoders now use the last LoRA, the VAE still the checkpoint.
            #expect(node("3")["model"] as? NSArray == ["atelier_lora_2", 0] as NSArray)
            #expect(node("6")["clip"] as? NSArray == ["atelier_lora_2", 1] as NSArray)
            #expect(node("8")["vae"] as? NSArray == ["4", 2] as NSArray)

            fake.state.withLockedValue { $0.refuseWith = "ckpt_name: 'missing.safetensors' not in ['sd_xl_base_1.0.safetensors']" }
            let refused = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "x", "model": "missing.safetensors"}"#))
            #expect(refused["status"] as? String == "failed" && refused["attempt"] as? Int == 1)
            #expect((refused["error"] as? String)?.contains("node 4: Value not in list") == true)

            fake.state.withLockedValue {
                $0.refuseWith = nil
                $0.failWith = "CUDA out of memory"
            }
            let crashed = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "big"}"#))
            #expect((crashed["error"] as? String)?.contains("KSampler: CUDA out of memory") == true)
        }
    }

    @Test("ComfyUI /ws: step progress shows on the job while it runs and the prompt's end ends the wait for the next poll; without /ws the job polls")
    func comfyUIEvents() async throws {
        let fake = try await FakeComfyUI.start()
        defer { Task { await fake.stop() } }
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            fake.state.withLockedValue { $0.webSocket = false }
            _ = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "polling", "backend": "comfyui", "endpoint": "\#(fake.url)", "options": {"poll_ms": 20, "default_checkpoint": "sd.safetensors"}}"#
            )
            let polled = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "no socket"}"#))
            #expect(polled["status"] as? String == "success")
            #expect(fake.state.withLockedValue { $0.socketClients }.isEmpty)

            fake.state.withLockedValue {
                $0.webSocket = true
                $0.pollsUntilDone = Int.max
                $0.stepTime = .milliseconds(50)
            }
            // One poll every 10 s: only the socket can end the job within seconds.
            _ = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "evented", "backend": "comfyui", "endpoint": "\#(fake.url)", "options": {"poll_ms": 10000, "default_checkpoint": "sd.safetensors"}}"#,
                replacing: "polling"
            )
            let started = ContinuousClock.now
            let id = try await Self.submit(app, token, #"{"prompt": "step by step", "steps": 10}"#)
            var seen: [Double] = []
            for _ in 0..<500 {
                let job = try await app.request(.get, "/api/v1/generations/\(id)", token: token).json
                if let value = job["progress"] as? Double, seen.last != value { seen.append(value) }
                if job["status"] as? String != "pending" && job["status"] as? String != "started" { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            let done = try await Self.waitFor(app, token, id)
            #expect(done["status"] as? String == "success")
            #expect(try await Self.image(app, done) == FakeGPU.png)
            #expect(ContinuousClock.now - started < .seconds(5))
            #expect(fake.state.withLockedValue { $0.socketClients.count } == 1)
            // Several steps were seen, in order: the other prompt's "10 of 10" and its end, sent
            // half way, were not taken for this job's (nor did they end the wait for it).
            #expect(seen.count >= 3, "progress seen: \(seen)")
            #expect(seen == seen.sorted() && seen.allSatisfy { $0 > 0 && $0 <= 1 }, "progress seen: \(seen)")

            // All of a prompt's events before /prompt has even answered (ComfyUI served it from
            // its cache): they are kept and applied once the prompt id is known.
            fake.state.withLockedValue {
                $0.answerAfterFinish = true
                $0.stepTime = .milliseconds(1)
            }
            let quick = ContinuousClock.now
            let cached = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "cached", "steps": 4}"#))
            #expect(cached["status"] as? String == "success")
            #expect(ContinuousClock.now - quick < .seconds(5))
        }
    }

    @Test("img2img: A1111 gets init_images on /sdapi/v1/img2img; ComfyUI gets the picture on /upload/image and the img2img workflow loads it")
    func img2img() async throws {
        let a1111 = try await FakeA1111.start()
        let comfy = try await FakeComfyUI.start()
        defer {
            Task {
                await a1111.stop()
                await comfy.stop()
            }
        }
        // A JPEG header: the upload must keep the format (ComfyUI picks the decoder by content, the name is for people).
        let source = Data([0xFF, 0xD8, 0xFF, 0xE0]) + Data("atelier source picture".utf8)
        let body =
            #"{"prompt": "the same cat, in watercolour", "seed": 7, "width": 640, "height": 512, "denoising_strength": 0.4, "init_image": "data:image/jpeg;base64,\#(source.base64EncodedString())"}"#
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            _ = try await Self.onlyWorker(app, token, #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(a1111.url)"}"#)
            let viaA1111 = try await Self.waitFor(app, token, try await Self.submit(app, token, body))
            #expect(viaA1111["status"] as? String == "success")
            // The answer names the picture's length rather than carrying it back.
            #expect((viaA1111["params"] as? [String: Any])?["init_image"] == nil)
            #expect(viaA1111["init_image_length"] as? Int == "data:image/jpeg;base64,\(source.base64EncodedString())".utf8.count)
            let sent = try #require(a1111.bodies("/sdapi/v1/img2img").first)
            #expect(sent["init_images"] as? [String] == [source.base64EncodedString()])
            #expect(sent["denoising_strength"] as? Double == 0.4)
            #expect(a1111.bodies("/sdapi/v1/txt2img").isEmpty)

            _ = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "comfy-1", "backend": "comfyui", "endpoint": "\#(comfy.url)", "options": {"poll_ms": 20, "default_checkpoint": "sd_xl_base_1.0.safetensors"}}"#,
                replacing: "gpu-1"
            )
            let viaComfy = try await Self.waitFor(app, token, try await Self.submit(app, token, body))
            #expect(viaComfy["status"] as? String == "success")
            #expect(try await Self.image(app, viaComfy) == FakeGPU.png)
            let (uploads, fields) = comfy.state.withLockedValue { ($0.uploads, $0.uploadFields) }
            let (name, bytes) = try #require(uploads.first)
            #expect(uploads.count == 1 && bytes == source && name.hasPrefix("atelier_") && name.hasSuffix(".jpg"))
            #expect(fields["type"] == "input" && fields["overwrite"] == "true")
            let graph = try #require(comfy.graphs().first)
            func node(_ id: String) -> [String: Any] { (graph[id] as? [String: Any]) ?? [:] }
            func inputs(_ id: String) -> [String: Any] { node(id)["inputs"] as? [String: Any] ?? [:] }
            #expect(node("10")["class_type"] as? String == "LoadImage" && inputs("10")["image"] as? String == name)
            #expect(inputs("11")["width"] as? Int == 640 && inputs("11")["height"] as? Int == 512)
            #expect(node("5")["class_type"] as? String == "VAEEncode")
            #expect(inputs("3")["denoise"] as? Double == 0.4 && inputs("3")["seed"] as? Int == 7)

            // A text-to-image job on the same worker still uses the text-to-image workflow.
            let plain = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "no source"}"#))
            #expect(plain["status"] as? String == "success")
            #expect(comfy.graphs().contains { ($0["5"] as? [String: Any])?["class_type"] as? String == "EmptyLatentImage" })

            // An img2img template must say where the picture goes.
            let refused = try await app.request(
                .post,
                "/api/v1/workers",
                token: token,
                json:
                    #"{"name": "comfy-2", "backend": "comfyui", "endpoint": "\#(comfy.url)", "options": {"img2img_workflow": {"1": {"class_type": "SaveImage", "inputs": {}}}}}"#
            )
            #expect(refused.status == .unprocessableContent)
            #expect(refused.detail.contains("options.img2img_workflow") && refused.detail.contains("{{init_image}}"))
        }
    }

    @Test("RunPod: /run then /status to COMPLETED with RUNPOD_API_KEY; FAILED fails with RunPod's message; cancel calls /cancel")
    func runPod() async throws {
        let fake = try await FakeRunPod.start()
        defer { Task { await fake.stop() } }
        var settings = Self.fast
        settings["RUNPOD_API_KEY"] = fake.apiKey
        try await TestApp.run(settings) { app in
            let token = try await app.login()
            _ = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "serverless", "backend": "runpod", "endpoint": "\#(fake.endpoint)", "concurrency": 4, "options": {"poll_ms": 20}}"#
            )
            let job = try await Self.waitFor(
                app,
                token,
                try await Self.submit(app, token, #"{"prompt": "a red fox", "seed": 42, "steps": 25, "cfg_scale": 6.5}"#)
            )
            #expect(job["status"] as? String == "success")
            #expect(try await Self.image(app, job) == FakeGPU.png)
            let input = FakeGPU.object(try #require(fake.state.withLockedValue { $0.inputs.first }))
            #expect(input["prompt"] as? String == "a red fox" && input["num_inference_steps"] as? Int == 25)
            #expect(input["guidance_scale"] as? Double == 6.5 && input["seed"] as? Int == 42)

            fake.state.withLockedValue { $0.outcome = "FAILED" }
            let failed = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "too long"}"#))
            #expect(failed["status"] as? String == "failed" && failed["attempt"] as? Int == 1)
            #expect((failed["error"] as? String)?.contains("prompt is too long for the tokenizer") == true)

            fake.state.withLockedValue {
                $0.outcome = "COMPLETED"
                $0.pollsUntilDone = Int.max
            }
            let id = try await Self.submit(app, token, #"{"prompt": "forever"}"#)
            _ = try await Self.waitFor(app, token, id, states: ["started"])
            for _ in 0..<200 where fake.state.withLockedValue({ $0.jobs.count }) < 3 { try await Task.sleep(for: .milliseconds(10)) }
            _ = try await app.request(.delete, "/api/v1/generations/\(id)", token: token)
            for _ in 0..<200 where fake.state.withLockedValue({ $0.cancelled.isEmpty }) { try await Task.sleep(for: .milliseconds(10)) }
            #expect(fake.state.withLockedValue { $0.cancelled.count } == 1)
        }
    }

    @Test("RunPod: a wrong key fails at once; a job stuck past the worker's timeout is retried, then fails")
    func runPodAuthAndTimeout() async throws {
        let fake = try await FakeRunPod.start()
        defer { Task { await fake.stop() } }
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            let worker = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "serverless", "backend": "runpod", "endpoint": "\#(fake.endpoint)", "token": "wrong-key", "options": {"poll_ms": 20, "timeout_seconds": 1}}"#
            )
            let refused = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "x"}"#))
            #expect(refused["status"] as? String == "failed" && refused["attempt"] as? Int == 1)
            #expect((refused["error"] as? String)?.contains("credentials refused (401)") == true)
            #expect((refused["error"] as? String)?.contains("wrong-key") == false)
            let check = try await app.request(.post, "/api/v1/workers/\(worker)/check", token: token)
            #expect(check.json["ok"] as? Bool == false)

            _ = try await app.request(.patch, "/api/v1/workers/\(worker)", token: token, json: #"{"token": "\#(fake.apiKey)"}"#)
            // The pool restarts the worker with the new token on its next look at the table; until
            // then a job can still meet the old one. Wait until a job succeeds.
            var restarted = false
            for _ in 0..<20 where !restarted {
                restarted =
                    try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "probe"}"#))["status"] as? String == "success"
            }
            try #require(restarted, "the worker never ran with its new token")
            fake.state.withLockedValue { $0.pollsUntilDone = Int.max }
            let stuck = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "stuck"}"#))
            #expect(stuck["status"] as? String == "failed" && stuck["attempt"] as? Int == 3)
            #expect((stuck["error"] as? String)?.contains("no result after") == true)
            #expect(fake.state.withLockedValue { $0.cancelled.count } == 3)
        }
    }

    @Test("Replicate: creates a prediction for owner/name, polls urls.get, downloads the output without the token")
    func replicate() async throws {
        let fake = try await FakeReplicate.start()
        defer { Task { await fake.stop() } }
        var settings = Self.fast
        settings["REPLICATE_API_TOKEN"] = fake.token
        try await TestApp.run(settings) { app in
            let token = try await app.login()
            _ = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "replicate", "backend": "replicate", "endpoint": "\#(fake.url)", "options": {"model": "stability-ai/sdxl", "poll_ms": 20}}"#
            )
            let job = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "an astronaut riding a horse", "seed": 3}"#))
            #expect(job["status"] as? String == "success")
            #expect(try await Self.image(app, job) == FakeGPU.png)
            let created = FakeGPU.object(try #require(fake.state.withLockedValue { $0.created.first }))
            #expect((created["input"] as? [String: Any])?["prompt"] as? String == "an astronaut riding a horse")
            let paths = fake.script.withLockedValue { $0.requests.map(\.path) }
            #expect(paths.first == "/v1/models/stability-ai/sdxl/predictions")
            // Without ATELIER_PUBLIC_URL: polled until done (two "processing" answers, then the result).
            #expect(fake.state.withLockedValue { $0.reads } == 3)
            #expect(created["webhook"] == nil)

            fake.state.withLockedValue { $0.failWith = "NSFW content detected. Try running it again, or try a different prompt." }
            let failed = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "x"}"#))
            #expect(failed["status"] as? String == "failed" && failed["attempt"] as? Int == 1)
            #expect((failed["error"] as? String)?.contains("NSFW content detected") == true)

            // An end status the client has no case for: `completed_at` ends the wait at once
            // (the job would otherwise poll until the worker's timeout, 30 minutes by default).
            fake.state.withLockedValue {
                $0.failWith = nil
                $0.endWith = "aborted"
            }
            let aborted = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "y"}"#))
            #expect(aborted["status"] as? String == "failed")
            #expect((aborted["error"] as? String)?.contains("ended with status 'aborted'") == true)
        }
    }

    @Test(
        "Replicate with ATELIER_PUBLIC_URL: the signed webhook wakes the job at once (one read of the prediction, no polling); forged or unsigned deliveries are refused"
    )
    func replicateWebhook() async throws {
        let fake = try await FakeReplicate.start()
        defer { Task { await fake.stop() } }
        var settings = Self.fast
        settings["REPLICATE_API_TOKEN"] = fake.token
        settings["ATELIER_PUBLIC_URL"] = "https://atelier.example.com/"
        try await TestApp.run(settings, mode: .live) { app in
            let token = try await app.login()
            // The public address is a proxy in front of this server: "Replicate" calls it, and the
            // fake forwards to the port the test server listens on.
            let local = "http://127.0.0.1:\(try #require(app.client.port))"
            fake.state.withLockedValue { $0.proxy = ("https://atelier.example.com", local) }
            // With a webhook the prediction is polled only every 5 s (not poll_ms), and polling alone
            // needs three GETs (the fake answers "processing" twice): a job done with fewer was
            // woken by the webhook. (Counted, not timed: a loaded CI machine may add a poll.)
            _ = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "replicate", "backend": "replicate", "endpoint": "\#(fake.url)", "options": {"model": "stability-ai/sdxl", "poll_ms": 20}}"#
            )
            let job = try await Self.waitFor(app, token, try await Self.submit(app, token, #"{"prompt": "a lighthouse", "seed": 5}"#))
            #expect(job["status"] as? String == "success")
            #expect(fake.state.withLockedValue { $0.reads } < 3)
            #expect(try await Self.image(app, job) == FakeGPU.png)
            let created = FakeGPU.object(try #require(fake.state.withLockedValue { $0.created.first }))
            #expect((created["webhook"] as? String)?.hasSuffix("/api/v1/replicate/webhook") == true)
            #expect(created["webhook_events_filter"] as? [String] == ["completed"])
            #expect(fake.state.withLockedValue { $0.deliveries } == [200])
            // One read of the prediction, after the webhook woke the job (the delivery itself is
            // not trusted for the result).
            #expect(fake.state.withLockedValue { $0.reads } == 1)

            let unsigned = try await app.request(.post, "/api/v1/replicate/webhook", json: #"{"id": "abc", "status": "succeeded"}"#)
            #expect(unsigned.status == .unprocessableContent)
            #expect(unsigned.detail.contains("webhook-signature"))
            fake.state.withLockedValue { $0.forgeSignatures = true }
            await fake.deliver(["id": "abc", "status": "succeeded"], to: "\(local)/api/v1/replicate/webhook")
            #expect(fake.state.withLockedValue { $0.deliveries.last } == 401)
            // Timestamps at the ends of Int's range are refused, not subtracted (which trapped on
            // overflow and stopped the whole server).
            for extreme in [Int.min, Int.max] {
                let headers: HTTPFields = [
                    HTTPField.Name("webhook-id")!: "msg_1", HTTPField.Name("webhook-timestamp")!: String(extreme),
                    HTTPField.Name("webhook-signature")!: "v1,AA==",
                ]
                let refused = try await app.request(.post, "/api/v1/replicate/webhook", json: #"{"id": "abc"}"#, headers: headers)
                #expect(refused.status == .unauthorized)
            }
            #expect(try await app.request(.get, "/health").status == .ok)
        }
    }

    @Test("worker admin API: validation names the field, tokens are never shown, a disabled worker takes no jobs")
    func workerAdmin() async throws {
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            let bad: [(String, String)] = [
                (#"{"name": "x", "backend": "dalle"}"#, "backend"),
                (#"{"name": "x", "backend": "a1111", "endpoint": "http://gpu:7860", "concurrency": 2}"#, "concurrency"),
                (#"{"name": "x", "backend": "a1111", "endpoint": "gpu:7860"}"#, "endpoint"),
                (#"{"name": "x y", "backend": "mock"}"#, "name"),
                (#"{"name": "x", "backend": "replicate"}"#, "options.model"),
                (
                    #"{"name": "x", "backend": "comfyui", "endpoint": "http://gpu:8188", "options": {"workflow": {"1": {"inputs": {}}}}}"#,
                    "options.workflow"
                ),
                (#"{"name": "x", "backend": "runpod", "endpoint": "abc123", "options": {"timeout_seconds": 0}}"#, "options.timeout_seconds"),
                (#"{"name": "x", "backend": "mock", "options": {"poll_ms": 5}}"#, "options.poll_ms"),
            ]
            for (json, field) in bad {
                let response = try await app.request(.post, "/api/v1/workers", token: token, json: json)
                #expect(response.status == .unprocessableContent, "\(json)")
                #expect((response.json["detail"] as? String)?.contains(field) == true, "\(json) → \(String(buffer: response.body))")
            }
            let user = try await app.request(.get, "/api/v1/workers")
            #expect(user.status == .unauthorized)
            let worker = try await Self.onlyWorker(
                app,
                token,
                #"{"name": "slow-mock", "backend": "mock", "concurrency": 1, "token": "tok-123", "options": {"delay_ms": 1}}"#
            )
            let duplicate = try await app.request(.post, "/api/v1/workers", token: token, json: #"{"name": "slow-mock", "backend": "mock"}"#)
            #expect(duplicate.status == .conflict)
            let disabled = try await app.request(.patch, "/api/v1/workers/\(worker)", token: token, json: #"{"enabled": false}"#)
            #expect(disabled.json["enabled"] as? Bool == false)
            #expect(!String(buffer: disabled.body).contains("tok-123"))
            for _ in 0..<200 where app.runtime.generation.pool.isRunning(worker) { try await Task.sleep(for: .milliseconds(10)) }
            let id = try await Self.submit(app, token, #"{"prompt": "waits"}"#)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await app.request(.get, "/api/v1/generations/\(id)", token: token).json["status"] as? String == "pending")
            _ = try await app.request(.patch, "/api/v1/workers/\(worker)", token: token, json: #"{"enabled": true}"#)
            #expect(try await Self.waitFor(app, token, id)["status"] as? String == "success")
        }
    }

    @Test("a worker whose backend cannot be built here shows why, and its lease is given up until its row changes")
    func unbuildableWorker() async throws {
        let fake = try await FakeA1111.start()
        defer { Task { await fake.stop() } }
        try await TestApp.run(Self.fast) { app in
            let token = try await app.login()
            let worker = try await Self.onlyWorker(app, token, #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(fake.url)"}"#)
            // A row the API would refuse (written by another version, say): the pool restarts the
            // worker for the new row and cannot build its backend.
            try await app.runtime.database.sql.raw(
                "UPDATE workers SET endpoint = 'not a url', updated_at = updated_at + 1 WHERE id = \(bind: worker)"
            ).run()
            let pool = app.runtime.generation.pool
            var shown: [String: Any] = [:]
            for _ in 0..<250 {
                shown = try await app.request(.get, "/api/v1/workers/\(worker)", token: token).json
                if !pool.isRunning(worker), shown["last_error"] is String { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(!pool.isRunning(worker))
            #expect((shown["last_error"] as? String)?.contains("endpoint") == true)
            // Not leased by this process, through the next refresh too (2 s apart), so another
            // process may take it.
            try await Task.sleep(for: .milliseconds(2_500))
            let holder = try await app.runtime.database.sql.raw("SELECT lease_holder FROM workers WHERE id = \(bind: worker)").first()
            #expect(try holder?.decodeNil(column: "lease_holder") == true)
        }
    }

    @Test("a finished generation is POSTed to the webhook URL, signed, with a delivery id of its end and image URLs that work from elsewhere")
    func jobWebhook() async throws {
        let receiver = try await FakeWebhookReceiver.start()
        defer { Task { await receiver.stop() } }
        var settings = Self.fast
        settings["ATELIER_WEBHOOK_URL"] = receiver.url
        settings["ATELIER_WEBHOOK_SECRET"] = "whsec-gen"
        settings["ATELIER_IMAGES_PUBLIC"] = "false"
        settings["ATELIER_PUBLIC_URL"] = "https://atelier.example.com/"
        try await TestApp.run(settings) { app in
            let token = try await app.login()
            let id = try await Self.submit(app, token, #"{"prompt": "hooked"}"#)
            _ = try await Self.waitFor(app, token, id)
            let hook = try #require(try await receiver.first())
            let event = FakeGPU.object(hook.body)
            #expect(event["type"] as? String == "generation.success")
            #expect((event["data"] as? [String: Any])?["id"] as? String == id)
            // Images are private here: the receiver gets an absolute, signed URL, which works
            // without credentials.
            let urls = try #require((event["data"] as? [String: Any])?["image_urls"] as? [String])
            #expect(urls.count == 1)
            let url = try #require(urls.first)
            #expect(url.hasPrefix("https://atelier.example.com/images/") && url.contains("sig="))
            #expect(try await app.request(.get, String(url.dropFirst("https://atelier.example.com".count))).status == .ok)
            #expect(hook.headers[HTTPField.Name("X-Atelier-Delivery")!] == "whd_\(id)_success")
            let signature = try #require(hook.headers[HTTPField.Name(WebhookSignature.header)!])
            #expect(WebhookSignature.verify(body: hook.body, header: signature, secret: Secret("whsec-gen"), now: Int(Date().timeIntervalSince1970)))
        }
    }

    @Test("seed 003: POST /generate names a catalog model; a missing LoRA is pulled through the hub first; seed 002 lists models")
    func catalogGenerate() async throws {
        try await HubPullTests.withFakes { fakes in
            let a1111 = try await FakeA1111.start()
            a1111.state.withLockedValue { $0.installed.append("my-sdxl.safetensors") }
            let settings = fakes.settings.merging(Self.fast) { $1 }
            let result = await Result {
                try await TestApp.run(settings) { app in
                    let token = try await app.login()
                    let folder = (app.runtime.config.dataDir as NSString).appendingPathComponent("models/checkpoints")
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                    let checkpoint = (folder as NSString).appendingPathComponent("my-sdxl.safetensors")
                    try fakes.checkpoint.write(to: URL(fileURLWithPath: checkpoint))
                    let imported = try await app.request(
                        .post,
                        "/api/v1/models/import",
                        token: token,
                        json: """
                            {"AVAILABLE_MODELS": {"my-sdxl": {"name": "My SDXL", "path": "\(checkpoint)", "default_negative": "low quality"}},
                             "AVAILABLE_LORAS": {"detail": {"name": "Detail", "path": "./models/detail", "default_weight": 0.7,
                                                            "trigger_words": ["detailed"], "civitai_version_id": 135867}}}
                            """
                    )
                    try #require(imported.status == .ok, "\(String(buffer: imported.body))")
                    _ = try await Self.onlyWorker(app, token, #"{"name": "gpu-1", "backend": "a1111", "endpoint": "\#(a1111.url)"}"#)

                    let unknown = try await app.request(.post, "/generate", json: #"{"prompt": "x", "model": "nope"}"#)
                    #expect(unknown.status == .unprocessableContent)
                    #expect((unknown.json["detail"] as? String)?.contains("known: my-sdxl") == true)

                    let queued = try await app.request(
                        .post,
                        "/generate",
                        json: #"{"prompt": "a portrait", "model": "my-sdxl", "loras": [{"name": "detail"}]}"#
                    )
                    #expect(queued.status == .accepted)
                    let id = try #require(queued.json["task_id"] as? String)
                    let job = try await Self.waitFor(app, token, id)
                    #expect(job["status"] as? String == "success", "\(job)")
                    let body = try #require(a1111.bodies("/sdapi/v1/txt2img").first)
                    #expect(body["prompt"] as? String == "a portrait, detailed <lora:detail_tweaker:0.7>")
                    #expect(body["negative_prompt"] as? String == "low quality")
                    #expect(a1111.state.withLockedValue { $0.switches } == ["my-sdxl.safetensors [0123456789]"])
                    let lora = try await app.request(.get, "/api/v1/models/detail", token: token)
                    #expect(lora.json["status"] as? String == "available")
                    // Shown relative to the models folder.
                    let shown = try #require(lora.json["path"] as? String)
                    #expect(!shown.hasPrefix("/"))
                    #expect(FileManager.default.fileExists(atPath: (app.runtime.hub.settings.modelsRoot as NSString).appendingPathComponent(shown)))

                    let seed002 = try await app.request(.get, "/api/models")
                    let models = try #require(try JSONSerialization.jsonObject(with: Data(buffer: seed002.body)) as? [[String: Any]])
                    #expect(models.contains { $0["name"] as? String == "My SDXL" && $0["status"] as? String == "ready" })
                    #expect(models.contains { $0["key"] as? String == "detail" && $0["trigger_word"] as? String == "detailed" })
                }
            }
            await a1111.stop()
            try result.get()
        }
    }
}
