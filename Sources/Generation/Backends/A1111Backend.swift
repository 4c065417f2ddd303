import AsyncHTTPClient
import Foundation

/// AUTOMATIC1111 / Forge through its `--api`: switches the checkpoint with `/sdapi/v1/options`
/// (`sd_model_checkpoint`) when a job names another one, runs `/sdapi/v1/txt2img` or `img2img`,
/// reads `/sdapi/v1/progress` while it works, and on cancel calls `/sdapi/v1/interrupt`.
/// An instance renders one image at a time, so its worker's concurrency is 1.
package struct A1111Backend: GenerationBackend {
    package let name: String
    let http: BackendHTTP
    let pollInterval: Duration
    let timeout: Duration

    /// `credentials` is `user:password` for `--api-auth` (sent as Basic), or a bearer token for a
    /// proxy in front of it.
    package init(
        name: String,
        base: URL,
        client: BackendTransport,
        credentials: String?,
        pollInterval: Duration = .seconds(1),
        timeout: Duration = .seconds(1800)
    ) {
        self.name = name
        var headers: [(String, String)] = []
        if let credentials, !credentials.isEmpty {
            headers.append(
                (
                    "Authorization",
                    credentials.contains(":")
                        ? "Basic \(Data(credentials.utf8).base64EncodedString())" : "Bearer \(credentials)"
                )
            )
        }
        self.http = BackendHTTP(client: client, backend: name, base: base, headers: headers)
        self.pollInterval = pollInterval
        self.timeout = timeout
    }

    package func check() async throws {
        _ = try await http.expectOK(.GET, "/sdapi/v1/options", timeout: .seconds(10), what: "reading options")
    }

    package func loadedModel() async throws -> String? {
        let reply = try await http.expectOK(.GET, "/sdapi/v1/options", timeout: .seconds(30), what: "reading options")
        return (try http.object(reply, what: "reading options")["sd_model_checkpoint"] as? String).map(Self.stripHash)
    }

    package func generate(_ job: BackendJob, progress: @escaping @Sendable (Double) -> Void) async throws -> GeneratedImage {
        if let model = job.params.model, try await !Self.same(loadedModel(), model) {
            try await switchCheckpoint(to: model)
        }
        let params = job.params
        var body: [String: Any] = [
            "prompt": Self.prompt(params), "negative_prompt": params.negative_prompt ?? "", "width": params.width,
            "height": params.height, "steps": params.steps, "seed": job.seed, "cfg_scale": params.cfg_scale ?? 7,
            "batch_size": 1, "n_iter": 1, "send_images": true, "save_images": false,
        ]
        if let vae = job.vae {
            // Per request, restored afterwards (A1111's default), so other jobs keep their VAE.
            body["override_settings"] = ["sd_vae": vae]
            body["override_settings_restore_afterwards"] = true
        }
        var path = "/sdapi/v1/txt2img"
        if let image = params.init_image, let data = ImageData.decode(image) {
            path = "/sdapi/v1/img2img"
            body["init_images"] = [data.base64EncodedString()]
            body["denoising_strength"] = params.denoising_strength ?? 0.75
        }
        let http = self.http
        let watcher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: pollInterval)
                if let reply = try? await http.send(.GET, "/sdapi/v1/progress?skip_current_image=true", timeout: .seconds(5)),
                    let value = (reply.json as? [String: Any])?["progress"] as? Double, value > 0
                {
                    progress(min(1, value))
                }
            }
        }
        defer { watcher.cancel() }
        let reply = try await withTaskCancellationHandler {
            try await http.expectOK(.POST, path, json: body, timeout: timeout, what: "generating")
        } onCancel: {
            // The job was cancelled or the worker stops: stop the GPU too.
            Task { _ = try? await http.send(.POST, "/sdapi/v1/interrupt", timeout: .seconds(10)) }
        }
        let object = try http.object(reply, what: "generating")
        guard let first = (object["images"] as? [String])?.first, let png = ImageData.decode(first) else {
            throw BackendError(backend: name, message: "generating: the answer has no image", retryable: false)
        }
        return GeneratedImage(png: png, requested: params)
    }

    func switchCheckpoint(to model: String) async throws {
        let listed = try await http.expectOK(.GET, "/sdapi/v1/sd-models", timeout: .seconds(30), what: "listing checkpoints")
        let models = (listed.json as? [[String: Any]]) ?? []
        let matches = models.filter { entry in ["title", "filename"].contains { (entry[$0] as? String).map { Self.same($0, model) } ?? false } }
        guard let match = matches.first else {
            let available = models.compactMap { $0["model_name"] as? String }.prefix(20).joined(separator: ", ")
            throw BackendError(
                backend: name,
                message: "checkpoint '\(model)' is not installed here (it has: \(available.isEmpty ? "none" : available)); pull it first",
                retryable: false
            )
        }
        guard matches.count == 1 else {
            let titles = matches.compactMap { ($0["title"] as? String).map(Self.stripHash) }.joined(separator: ", ")
            throw BackendError(
                backend: name,
                message: "several checkpoints here are named '\(model)' (\(titles)); name one with its folder",
                retryable: false
            )
        }
        // A1111 takes its own name for the checkpoint (its title, such as `sub/x.safetensors
        // [hash]`): the name we were given may lack its folder or extension. Loading a checkpoint
        // can take minutes on a cold disk.
        let checkpoint = (match["title"] as? String) ?? model
        _ = try await http.expectOK(
            .POST,
            "/sdapi/v1/options",
            json: ["sd_model_checkpoint": checkpoint],
            timeout: .seconds(900),
            what: "switching the checkpoint to \(model)"
        )
    }

    /// The prompt with A1111's `<lora:name:weight>` tags appended.
    static func prompt(_ params: GenerationParams) -> String {
        let tags = (params.loras ?? []).map { "<lora:\(stem($0.name)):\(format($0.weight ?? 1))>" }
        return ([params.prompt] + tags).joined(separator: " ")
    }

    /// `sd_model_checkpoint` reads `file.safetensors [abc123]`; compare without the hash, the
    /// folder and the extension.
    /// Whether A1111's name for a checkpoint (a title `sub/x.safetensors [hash]`, or a file path)
    /// is the one wanted: by file name without folder or extension, or, when the wanted name has a
    /// folder, by its path under the checkpoint folder as well.
    static func same(_ loaded: String?, _ wanted: String) -> Bool {
        guard let loaded else { return false }
        let have = stripHash(loaded)
        guard stem(have) == stem(wanted) else { return false }
        let folders = wanted.split(whereSeparator: { $0 == "/" || $0 == "\\" }).dropLast()
        guard !folders.isEmpty else { return true }
        let path = have.split(whereSeparator: { $0 == "/" || $0 == "\\" }).dropLast()
        return path.suffix(folders.count).elementsEqual(folders)
    }

    static func stripHash(_ title: String) -> String {
        guard title.hasSuffix("]"), let open = title.lastIndex(of: "[") else { return title }
        return title[..<open].trimmingCharacters(in: .whitespaces)
    }

    static func stem(_ name: String) -> String {
        let file = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? name
        for ext in [".safetensors", ".ckpt", ".pt", ".bin"] where file.lowercased().hasSuffix(ext) {
            return String(file.dropLast(ext.count))
        }
        return file
    }

    static func format(_ weight: Double) -> String {
        weight == weight.rounded() ? String(Int(weight)) : String(format: "%g", weight)
    }
}
