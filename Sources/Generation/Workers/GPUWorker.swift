import Core
import Foundation

/// The kinds of backend a worker can be.
package enum BackendKind: String, Codable, CaseIterable, Sendable {
    case mock, a1111, comfyui, runpod, replicate

    /// A1111 renders one image at a time; the others take what the worker's concurrency says.
    package var maxConcurrency: Int { self == .a1111 ? 1 : 256 }
}

/// Per-backend settings of a worker.
package struct WorkerOptions: Codable, Sendable, Equatable {
    /// mock: how long an image takes (defaults to ATELIER_MOCK_DELAY_MS).
    package var delay_ms: Int?
    /// Remote backends: how often to ask for status.
    package var poll_ms: Int?
    /// Remote backends: how long one image may take before the attempt is given up.
    package var timeout_seconds: Int?
    /// ComfyUI: the workflow template in API format (see `ComfyWorkflow`).
    package var workflow: JSONValue?
    /// ComfyUI: the template for img2img jobs; it loads the source picture from `{{init_image}}`
    /// (defaults to the built-in `ComfyWorkflow.standardImg2Img`).
    package var img2img_workflow: JSONValue?
    /// ComfyUI: the checkpoint used when a job names none.
    package var default_checkpoint: String?
    /// Replicate: `owner/name` of an official model, or a version hash.
    package var model: String?
    package var version: String?

    package init(
        delay_ms: Int? = nil,
        poll_ms: Int? = nil,
        timeout_seconds: Int? = nil,
        workflow: JSONValue? = nil,
        img2img_workflow: JSONValue? = nil,
        default_checkpoint: String? = nil,
        model: String? = nil,
        version: String? = nil
    ) {
        self.delay_ms = delay_ms
        self.poll_ms = poll_ms
        self.timeout_seconds = timeout_seconds
        self.workflow = workflow
        self.img2img_workflow = img2img_workflow
        self.default_checkpoint = default_checkpoint
        self.model = model
        self.version = version
    }
}

/// A GPU worker: one row of the workers table (not code that runs). A backend endpoint, how many jobs it runs at once, and the checkpoints it can run (empty:
/// any). Stored in the database; exactly one process runs it at a time (it holds the lease).
package struct GPUWorker: Sendable, Equatable {
    package var id: String
    package var name: String
    package var backend: BackendKind
    package var endpoint: String
    /// The backend's credentials, sealed with `SecretBox`; never shown again.
    package var sealedToken: String?
    package var concurrency: Int
    package var models: [String]
    package var options: WorkerOptions
    /// The fleet node (`atelier serve --role node`) on the same machine, where its models are pulled.
    package var nodeID: String?
    package var enabled: Bool
    package var loadedModel: String?
    package var leaseHolder: String?
    package var leaseExpiresAt: Int64?
    package var lastError: String?
    package var createdAt: Int64
    package var updatedAt: Int64

    package init(
        id: String = ID.make("gpu"),
        name: String,
        backend: BackendKind,
        endpoint: String,
        sealedToken: String? = nil,
        concurrency: Int,
        models: [String] = [],
        options: WorkerOptions = WorkerOptions(),
        nodeID: String? = nil,
        enabled: Bool = true,
        now: Int64
    ) {
        self.id = id
        self.name = name
        self.backend = backend
        self.endpoint = endpoint
        self.sealedToken = sealedToken
        self.concurrency = concurrency
        self.models = models
        self.options = options
        self.nodeID = nodeID
        self.enabled = enabled
        self.createdAt = now
        self.updatedAt = now
    }

    /// True when it can run a job that names `model` (or none).
    package func accepts(model: String?) -> Bool {
        guard let model, !models.isEmpty else { return true }
        return models.contains(model)
    }
}

struct WorkerRow: Codable {
    var id: String
    var name: String
    var backend: String
    var endpoint: String
    var sealed_token: String?
    var concurrency: Int
    var models: String
    var options: String
    var node_id: String?
    var enabled: Int
    var loaded_model: String?
    var lease_holder: String?
    var lease_expires_at: Int64?
    var last_error: String?
    var created_at: Int64
    var updated_at: Int64

    func worker() -> GPUWorker {
        var worker = GPUWorker(
            id: id,
            name: name,
            backend: BackendKind(rawValue: backend) ?? .mock,
            endpoint: endpoint,
            sealedToken: sealed_token,
            concurrency: concurrency,
            models: (try? JSONDecoder().decode([String].self, from: Data(models.utf8))) ?? [],
            options: (try? JSONDecoder().decode(WorkerOptions.self, from: Data(options.utf8))) ?? WorkerOptions(),
            nodeID: node_id,
            enabled: enabled != 0,
            now: created_at
        )
        worker.updatedAt = updated_at
        worker.loadedModel = loaded_model
        worker.leaseHolder = lease_holder
        worker.leaseExpiresAt = lease_expires_at
        worker.lastError = last_error
        return worker
    }
}
