import AsyncHTTPClient
import Foundation

/// A RunPod serverless endpoint (`https://api.runpod.ai/v2/ENDPOINT_ID`): `/run` with the job as
/// `input` (the field names of RunPod's SDXL worker), `/status/{id}` until it ends, `/cancel/{id}`
/// on cancel, `/health` for checks. IN_QUEUE and IN_PROGRESS wait; COMPLETED succeeds; FAILED
/// fails the job; TIMED_OUT and a CANCELLED we did not ask for are retried.
package struct RunPodBackend: GenerationBackend {
    package let name: String
    let http: BackendHTTP
    let pollInterval: Duration
    let timeout: Duration

    package init(
        name: String,
        endpoint: URL,
        client: BackendTransport,
        apiKey: String?,
        pollInterval: Duration = .seconds(1),
        timeout: Duration = .seconds(1800)
    ) {
        self.name = name
        self.http = BackendHTTP(
            client: client,
            backend: name,
            base: endpoint,
            headers: apiKey.map { [("Authorization", "Bearer \($0)")] } ?? []
        )
        self.pollInterval = pollInterval
        self.timeout = timeout
    }

    package func check() async throws {
        _ = try await http.expectOK(.GET, "/health", timeout: .seconds(10), what: "health")
    }

    package func loadedModel() async throws -> String? { nil }

    static func input(_ job: BackendJob) -> [String: Any] {
        let params = job.params
        var input: [String: Any] = [
            "prompt": params.prompt, "negative_prompt": params.negative_prompt ?? "", "width": params.width, "height": params.height,
            "num_inference_steps": params.steps, "guidance_scale": params.cfg_scale ?? 7.5, "seed": job.seed, "num_images": 1,
        ]
        if let model = params.model { input["model"] = model }
        // Not a field of RunPod's SDXL worker; passed for workers that load a VAE by name.
        if let vae = job.vae { input["vae"] = vae }
        if let loras = params.loras { input["loras"] = loras.map { ["name": $0.name, "weight": $0.weight ?? 1] as [String: Any] } }
        if let image = params.init_image {
            input["image_url"] = image.hasPrefix("data:") ? image : "data:image/png;base64,\(image)"
            input["strength"] = params.denoising_strength ?? 0.75
        }
        return input
    }

    package func generate(_ job: BackendJob, progress: @escaping @Sendable (Double) -> Void) async throws -> GeneratedImage {
        let started = try await http.expectOK(.POST, "/run", json: ["input": Self.input(job)], timeout: .seconds(60), what: "submitting")
        guard let runID = try http.object(started, what: "submitting")["id"] as? String else {
            throw BackendError(backend: name, message: "submitting: no job id in the answer", retryable: false)
        }
        let http = self.http
        return try await withTaskCancellationHandler {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                try await Task.sleep(for: pollInterval)
                let reply = try await http.send(.GET, "/status/\(runID)", timeout: .seconds(30))
                if reply.status == 404 {
                    throw BackendError(backend: name, message: "RunPod forgot job \(runID) (404 on status)", retryable: true)
                }
                guard (200..<300).contains(reply.status) else { throw http.failure(reply, what: "reading the status") }
                let status = try http.object(reply, what: "reading the status")
                switch status["status"] as? String ?? "" {
                case "IN_QUEUE": continue
                case "IN_PROGRESS":
                    if let value = (status["output"] as? [String: Any])?["progress"] as? Double { progress(min(1, value > 1 ? value / 100 : value)) }
                case "COMPLETED":
                    guard let reference = BackendHTTP.firstImageReference(status["output"]) else {
                        throw BackendError(backend: name, message: "the job completed without an image in its output", retryable: false)
                    }
                    let png = try await http.image(reference, what: "reading the output")
                    return GeneratedImage(png: png, requested: job.params)
                case "FAILED":
                    throw BackendError(backend: name, message: "the job failed on RunPod: \(Self.describe(status["error"]))", retryable: false)
                case "TIMED_OUT":
                    throw BackendError(backend: name, message: "the job timed out on RunPod", retryable: true)
                case "CANCELLED":
                    throw BackendError(backend: name, message: "the job was cancelled on RunPod", retryable: true)
                case let other:
                    throw BackendError(backend: name, message: "unknown job status '\(other)'", retryable: true)
                }
            }
            _ = try? await http.send(.POST, "/cancel/\(runID)", timeout: .seconds(10))
            throw BackendError(backend: name, message: "no result after \(timeout)", retryable: true)
        } onCancel: {
            Task { _ = try? await http.send(.POST, "/cancel/\(runID)", timeout: .seconds(10)) }
        }
    }

    static func describe(_ error: Any?) -> String {
        switch error {
        case let text as String: return String(text.prefix(500))
        case let object as [String: Any]:
            return (object["error_message"] ?? object["message"] ?? object["error_type"]).map { "\($0)" } ?? "\(object)"
        default: return "no error message"
        }
    }
}
