import Core
import Foundation

/// A worker as the admin API takes it (POST: all; PATCH: any subset).
struct WorkerInput: Decodable {
    var name: String?
    var backend: String?
    var endpoint: String?
    var token: String?
    var concurrency: Int?
    var models: [String]?
    var options: WorkerOptions?
    var node_id: String?
    var enabled: Bool?

    /// Applies the input to `worker` (a new one or a stored one) and checks the result.
    func apply(to worker: inout GPUWorker, box: SecretBox) throws {
        if let name {
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-"))
            guard (1...GenerationBounds.workerName).contains(name.unicodeScalars.count), name.unicodeScalars.allSatisfy(allowed.contains) else {
                throw AppError.validation(field: "name", "must be 1 to 64 letters, digits, '.', '_' or '-'")
            }
            worker.name = name
        }
        if let endpoint { worker.endpoint = endpoint.trimmingCharacters(in: .whitespaces) }
        if let token { worker.sealedToken = token.isEmpty ? nil : try box.seal(Secret(token)) }
        if let concurrency {
            guard (1...256).contains(concurrency) else { throw AppError.validation(field: "concurrency", "must be from 1 to 256") }
            worker.concurrency = concurrency
        }
        if let models {
            guard models.count <= GenerationBounds.workerModels, models.allSatisfy({ (1...GenerationBounds.name).contains($0.unicodeScalars.count) })
            else {
                throw AppError.validation(
                    field: "models",
                    "at most \(GenerationBounds.workerModels) names of 1 to \(GenerationBounds.name) characters"
                )
            }
            worker.models = models
        }
        if let options { worker.options = options }
        if let node_id { worker.nodeID = node_id.isEmpty ? nil : node_id }
        if let enabled { worker.enabled = enabled }
        try Self.check(worker)
    }

    static func check(_ worker: GPUWorker) throws {
        switch worker.backend {
        case .mock: break
        case .a1111, .comfyui:
            guard let url = URL(string: worker.endpoint), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw AppError.validation(field: "endpoint", "must be the instance's base URL, like http://gpu-1:7860")
            }
        case .runpod:
            guard !worker.endpoint.isEmpty, URL(string: BackendFactory.runPodURL(worker.endpoint))?.host != nil else {
                throw AppError.validation(field: "endpoint", "must be a RunPod endpoint id or https://api.runpod.ai/v2/ENDPOINT_ID")
            }
        case .replicate:
            guard worker.options.model != nil || worker.options.version != nil else {
                throw AppError.validation(field: "options.model", "name the Replicate model (owner/name) or options.version")
            }
        }
        if worker.backend == .a1111 && worker.concurrency > 1 {
            throw AppError.validation(
                field: "concurrency",
                "an A1111/Forge instance renders one image at a time; use 1 (add more workers for more GPUs)"
            )
        }
        if let options = worker.options.poll_ms, !(10...60_000).contains(options) {
            throw AppError.validation(field: "options.poll_ms", "must be from 10 to 60000")
        }
        if let timeout = worker.options.timeout_seconds, !(1...86_400).contains(timeout) {
            throw AppError.validation(field: "options.timeout_seconds", "must be from 1 to 86400 (seconds one image may take)")
        }
        if let delay = worker.options.delay_ms, !(0...600_000).contains(delay) {
            throw AppError.validation(field: "options.delay_ms", "must be from 0 to 600000")
        }
        if let workflow = worker.options.workflow {
            do { _ = try ComfyWorkflow(template: String(decoding: try workflow.jsonData(), as: UTF8.self)) } catch {
                throw AppError.validation(field: "options.workflow", "\(error)")
            }
        }
        if let workflow = worker.options.img2img_workflow {
            let parsed: ComfyWorkflow
            do { parsed = try ComfyWorkflow(template: String(decoding: try workflow.jsonData(), as: UTF8.self)) } catch {
                throw AppError.validation(field: "options.img2img_workflow", "\(error)")
            }
            guard parsed.takesInitImage else {
                throw AppError.validation(
                    field: "options.img2img_workflow",
                    "needs a LoadImage node whose image is \"{{init_image}}\" (where the source picture goes)"
                )
            }
        }
    }
}
