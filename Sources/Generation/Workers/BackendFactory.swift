import AsyncHTTPClient
import Core
import Foundation

/// Builds the backend adapter for a worker row: its endpoint, its credentials (the worker's own
/// sealed token, else RUNPOD_API_KEY / REPLICATE_API_TOKEN) and its options.
package struct BackendFactory: Sendable {
    let client: BackendTransport
    let box: SecretBox
    let mockDelay: Duration
    let runPodAPIKey: Secret?
    let replicateToken: Secret?
    /// Replicate's completion callbacks (delivered to `ReplicateWebhookRoutes`).
    package let replicateWebhooks: ReplicateWebhooks

    package init(
        client: BackendTransport,
        box: SecretBox,
        mockDelay: Duration,
        runPodAPIKey: Secret?,
        replicateToken: Secret?,
        replicateWebhooks: ReplicateWebhooks = ReplicateWebhooks(publicURL: nil)
    ) {
        self.replicateWebhooks = replicateWebhooks
        self.client = client
        self.box = box
        self.mockDelay = mockDelay
        self.runPodAPIKey = runPodAPIKey
        self.replicateToken = replicateToken
    }

    package static let replicateURL = "https://api.replicate.com/v1"

    /// A RunPod endpoint given as its bare id becomes its API URL.
    package static func runPodURL(_ endpoint: String) -> String {
        endpoint.contains("://") ? endpoint : "https://api.runpod.ai/v2/\(endpoint)"
    }

    /// Refuses, at create and update, an endpoint whose address the policy does not allow, so the
    /// admin reads why at once (requests are checked again when sent). The default RunPod and
    /// Replicate URLs are public and not looked up here.
    package func checkEndpoint(_ worker: GPUWorker) async throws {
        let endpoint: String
        switch worker.backend {
        case .mock: return
        case .a1111, .comfyui: endpoint = worker.endpoint
        case .runpod:
            guard worker.endpoint.contains("://") else { return }
            endpoint = worker.endpoint
        case .replicate:
            guard !worker.endpoint.isEmpty, worker.endpoint != Self.replicateURL else { return }
            endpoint = worker.endpoint
        }
        guard let url = URL(string: endpoint) else { return }
        _ = try await client.policy.approve(url, field: "endpoint")
    }

    package func make(_ worker: GPUWorker) throws -> any GenerationBackend {
        let name = "\(worker.backend.rawValue)@\(worker.name)"
        let token = try worker.sealedToken.map { try box.open($0).value }
        let options = worker.options
        let poll = options.poll_ms.map { Duration.milliseconds($0) }
        let timeout = Duration.seconds(options.timeout_seconds ?? 1800)
        func url(_ text: String) throws -> URL {
            guard let url = URL(string: text), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw AppError.validation(field: "endpoint", "must be an http(s) URL, not '\(text)'")
            }
            return url
        }
        switch worker.backend {
        case .mock:
            return MockBackend(name: name, delay: options.delay_ms.map { .milliseconds($0) } ?? mockDelay)
        case .a1111:
            return A1111Backend(
                name: name,
                base: try url(worker.endpoint),
                client: client,
                credentials: token,
                pollInterval: poll ?? .seconds(1),
                timeout: timeout
            )
        case .comfyui:
            func template(_ value: JSONValue?) throws -> ComfyWorkflow? {
                try value.map { try ComfyWorkflow(template: String(decoding: try $0.jsonData(), as: UTF8.self)) }
            }
            return ComfyUIBackend(
                name: name,
                base: try url(worker.endpoint),
                client: client,
                token: token,
                workflow: try template(options.workflow) ?? .standard,
                img2imgWorkflow: try template(options.img2img_workflow) ?? .standardImg2Img,
                defaultCheckpoint: options.default_checkpoint ?? worker.models.first,
                pollInterval: poll ?? .milliseconds(500),
                timeout: timeout
            )
        case .runpod:
            return RunPodBackend(
                name: name,
                endpoint: try url(Self.runPodURL(worker.endpoint)),
                client: client,
                apiKey: token ?? runPodAPIKey?.value,
                pollInterval: poll ?? .seconds(1),
                timeout: timeout
            )
        case .replicate:
            return ReplicateBackend(
                name: name,
                base: try url(worker.endpoint.isEmpty ? Self.replicateURL : worker.endpoint),
                client: client,
                apiToken: token ?? replicateToken?.value,
                model: options.model,
                version: options.version,
                pollInterval: poll ?? .seconds(1),
                timeout: timeout,
                webhooks: replicateWebhooks
            )
        }
    }
}
