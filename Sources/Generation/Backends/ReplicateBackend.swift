import AsyncHTTPClient
import Core
import Foundation
import NIOConcurrencyHelpers

/// Replicate predictions: created for a model (`owner/name`, the official-model route) or a
/// version hash, followed until `succeeded`, `failed` or `canceled`, and cancelled with
/// `urls.cancel`. With a public address (`ReplicateWebhooks`), Replicate calls back when the
/// prediction completes and `urls.get` is only polled as a slow safety net; without one it is
/// polled every `pollInterval`. Progress comes from the percentage bars in the logs.
package struct ReplicateBackend: GenerationBackend {
    package let name: String
    let http: BackendHTTP
    let model: String?
    let version: String?
    let pollInterval: Duration
    let timeout: Duration
    let webhooks: ReplicateWebhooks?
    /// The account's webhook signing key, read once (or when it could not be read, when that was,
    /// so it is not asked for again before every job).
    private let signingKey = NIOLockedValueBox<(key: [UInt8]?, failedAt: ContinuousClock.Instant?)>((nil, nil))

    package init(
        name: String,
        base: URL,
        client: BackendTransport,
        apiToken: String?,
        model: String?,
        version: String?,
        pollInterval: Duration = .seconds(1),
        timeout: Duration = .seconds(1800),
        webhooks: ReplicateWebhooks? = nil
    ) {
        self.webhooks = webhooks
        self.name = name
        self.http = BackendHTTP(
            client: client,
            backend: name,
            base: base,
            headers: apiToken.map { [("Authorization", "Bearer \($0)")] } ?? []
        )
        self.model = model
        self.version = version
        self.pollInterval = pollInterval
        self.timeout = timeout
    }

    package func check() async throws {
        _ = try await http.expectOK(.GET, "/account", timeout: .seconds(10), what: "reading the account")
    }

    package func loadedModel() async throws -> String? { nil }

    static func input(_ job: BackendJob) -> [String: Any] {
        let params = job.params
        var input: [String: Any] = [
            "prompt": params.prompt, "width": params.width, "height": params.height, "num_inference_steps": params.steps,
            "guidance_scale": params.cfg_scale ?? 7.5, "seed": job.seed, "num_outputs": 1,
        ]
        if let negative = params.negative_prompt { input["negative_prompt"] = negative }
        if let image = params.init_image {
            input["image"] = image.hasPrefix("data:") ? image : "data:image/png;base64,\(image)"
            input["prompt_strength"] = params.denoising_strength ?? 0.8
        }
        return input
    }

    /// The webhook URL to give Replicate, once the account's signing key is known (nil: poll).
    /// A key that cannot be read (an old mirror, a token without access) means polling.
    func webhook() async -> String? {
        guard let webhooks, let url = webhooks.callbackURL else { return nil }
        let known = signingKey.withLockedValue { $0 }
        if let key = known.key {
            webhooks.addKey(key)
            return url
        }
        if let failed = known.failedAt, ContinuousClock.now - failed < .seconds(300) { return nil }
        guard
            let reply = try? await http.expectOK(.GET, "/webhooks/default/secret", timeout: .seconds(10), what: "reading the webhook signing secret"),
            let secret = (try? http.object(reply, what: "reading the webhook signing secret"))?["key"] as? String,
            let key = StandardWebhooks.key(fromSecret: secret)
        else {
            signingKey.withLockedValue { $0.failedAt = ContinuousClock.now }
            return nil
        }
        signingKey.withLockedValue { $0 = (key, nil) }
        webhooks.addKey(key)
        return url
    }

    package func generate(_ job: BackendJob, progress: @escaping @Sendable (Double) -> Void) async throws -> GeneratedImage {
        var body: [String: Any] = ["input": Self.input(job)]
        let webhook = await webhook()
        if let webhook {
            body["webhook"] = webhook
            body["webhook_events_filter"] = ["completed"]
        }
        let created: BackendHTTP.Reply
        if let version {
            body["version"] = version
            created = try await http.expectOK(.POST, "/predictions", json: body, what: "creating the prediction")
        } else if let model {
            created = try await http.expectOK(.POST, "/models/\(model)/predictions", json: body, what: "creating the prediction")
        } else {
            throw BackendError(backend: name, message: "the worker names no model or version (options.model or options.version)", retryable: false)
        }
        let prediction = try http.object(created, what: "creating the prediction")
        guard let id = prediction["id"] as? String else {
            throw BackendError(backend: name, message: "creating the prediction: no id in the answer", retryable: false)
        }
        let urls = prediction["urls"] as? [String: Any]
        let getURL = urls?["get"] as? String ?? "/predictions/\(id)"
        let cancelURL = urls?["cancel"] as? String ?? "/predictions/\(id)/cancel"
        let http = self.http
        let webhooks = webhook == nil ? nil : self.webhooks
        let delivered = webhooks?.register(id)
        defer { webhooks?.unregister(id) }
        return try await withTaskCancellationHandler {
            var current = prediction
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                switch current["status"] as? String ?? "" {
                case "succeeded":
                    guard let reference = BackendHTTP.firstImageReference(current["output"]) else {
                        throw BackendError(backend: name, message: "the prediction succeeded without an image", retryable: false)
                    }
                    return GeneratedImage(png: try await http.image(reference, what: "reading the output"), requested: job.params)
                case "failed":
                    throw BackendError(
                        backend: name,
                        message: "the prediction failed: \((current["error"] as? String).map { String($0.prefix(500)) } ?? "no error message")",
                        retryable: false
                    )
                case "canceled":
                    throw BackendError(backend: name, message: "the prediction was canceled on Replicate", retryable: true)
                case let status where !(current["completed_at"] is NSNull) && current["completed_at"] != nil:
                    // An end this client does not know by name (Replicate has added statuses
                    // before): `completed_at` says it is over, so waiting would only time out.
                    throw BackendError(
                        backend: name,
                        message:
                            "the prediction ended with status '\(status)': \((current["error"] as? String).map { String($0.prefix(500)) } ?? "no error message")",
                        retryable: false
                    )
                default:
                    if let logs = current["logs"] as? String, let value = Self.progress(fromLogs: logs) { progress(value) }
                }
                if let webhooks, let delivered {
                    // Woken by the webhook (or the safety-net timeout); the prediction is then
                    // read from Replicate, not taken from the delivery.
                    await delivered.wait(timeout: webhooks.fallbackPoll)
                    try Task.checkCancellation()
                } else {
                    try await Task.sleep(for: pollInterval)
                }
                current = try http.object(
                    try await http.expectOK(.GET, getURL, timeout: .seconds(30), what: "reading the prediction"),
                    what: "reading the prediction"
                )
            }
            _ = try? await http.send(.POST, cancelURL, timeout: .seconds(10))
            throw BackendError(backend: name, message: "no result after \(timeout)", retryable: true)
        } onCancel: {
            Task {
                delivered?.signal()
                _ = try? await http.send(.POST, cancelURL, timeout: .seconds(10))
            }
        }
    }

    /// The last `NN%|` of a tqdm bar in the logs, as 0…1.
    static func progress(fromLogs logs: String) -> Double? {
        var last: Double?
        var digits = ""
        for character in logs {
            if character.isNumber {
                digits.append(character)
                continue
            }
            if character == "%", let value = Double(digits), value <= 100 { last = value / 100 }
            digits = ""
        }
        return last
    }
}
