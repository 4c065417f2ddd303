import Core
import Foundation
import Generation
import Hub
import Logging

/// Generation's view of the Hub catalog (Generation does not import Hub).
struct HubModelCatalog: ModelCatalog {
    let catalog: CatalogStore

    func lookup(_ key: String) async throws -> CatalogModel? {
        try await catalog.find(key: key).map(Self.model)
    }

    func checkpointKeys() async throws -> [String] {
        try await catalog.list(kind: .checkpoint, page: PageRequest(limit: PageRequest.maxLimit)).map(\.key)
    }

    static func model(_ entry: CatalogEntry) -> CatalogModel {
        CatalogModel(key: entry.key, kind: entry.kind.rawValue, fileName: (entry.path as NSString).lastPathComponent,
                     triggerWords: entry.triggerWords, defaultWeight: entry.defaultWeight, defaultNegative: entry.defaultNegative)
    }
}

/// Before a job runs, makes sure the catalog models it names are on the worker's machine (seed
/// 003's automatic LoRA download): on this machine through `HubService.pull`, on a fleet node by
/// sending it the download and following it there. Then names them by file name, as the GPU
/// software knows them. Names that are not catalog keys pass through unchanged.
struct CatalogProvisioner: ModelProvisioner {
    let catalog: CatalogStore
    let hub: HubService
    let fleet: FleetService
    let logger: Logger
    /// How long a pull may take before the attempt fails (and is retried).
    var timeout: Duration = .seconds(3600)

    func prepare(_ params: GenerationParams, for worker: Worker) async throws -> GenerationParams {
        var params = params
        if let model = params.model, let entry = try await catalog.find(key: model) {
            params.model = try await ensure(entry, on: worker)
        }
        if let loras = params.loras {
            var resolved: [LoraRef] = []
            for lora in loras {
                guard let entry = try await catalog.find(key: lora.name) else {
                    resolved.append(lora)
                    continue
                }
                resolved.append(LoraRef(name: try await ensure(entry, on: worker), weight: lora.weight))
            }
            params.loras = resolved
        }
        return params
    }

    /// Makes the entry's file present where the worker runs; returns its file name there.
    func ensure(_ entry: CatalogEntry, on worker: Worker) async throws -> String {
        if let nodeID = worker.nodeID {
            return try await ensureOnNode(entry, nodeID: nodeID, worker: worker)
        }
        if FileManager.default.fileExists(atPath: entry.path) { return (entry.path as NSString).lastPathComponent }
        let reference = try pullReference(entry, worker: worker)
        logger.info("pulling a model a job needs", metadata: ["model": "\(entry.key)", "ref": "\(reference)"])
        let pulled: [PulledFile]
        do { pulled = try await hub.pull(reference, layout: try hub.layout(nil), kind: entry.kind) } catch {
            // Hub errors that say "not found" or "needs a token" will not change on a retry.
            let retryable = (error as? AppError).map { $0.status.code >= 500 || $0.status.code == 429 } ?? true
            throw BackendError(backend: worker.name, message: "pulling \(entry.key) failed: \((error as? AppError)?.detail ?? "\(error)")",
                               retryable: retryable)
        }
        guard let file = pulled.first else {
            throw BackendError(backend: worker.name, message: "pulling \(entry.key) gave no file", retryable: false)
        }
        // The pull recorded the file under the hub's name for it; keep the entry the jobs name
        // (with its defaults) and point it at the file.
        var updated = entry
        updated.path = file.path
        updated.status = .available
        updated.sha256 = file.sha256
        updated.sizeBytes = file.size
        updated.civitaiModelID = updated.civitaiModelID ?? file.entry.civitaiModelID
        updated.civitaiVersionID = updated.civitaiVersionID ?? file.entry.civitaiVersionID
        updated.updatedAt = Timestamp.millis(Date())
        if file.entry.id != entry.id { try await catalog.delete(id: file.entry.id) }
        try await catalog.upsert(updated)
        return (file.path as NSString).lastPathComponent
    }

    func ensureOnNode(_ entry: CatalogEntry, nodeID: String, worker: Worker) async throws -> String {
        guard let node = try await fleet.store.find(nodeID) else {
            throw BackendError(backend: worker.name, message: "worker's node \(nodeID) is not registered (see /api/v1/fleet/nodes)", retryable: false)
        }
        let reference = try pullReference(entry, worker: worker)
        // One key per model and node: every job needing it follows the same download there, and
        // a node that has the file answers at once.
        let results = await fleet.download(ref: reference.description, layout: nil, kind: entry.kind.rawValue, nodes: [node],
                                           idempotencyKey: "provision-\(entry.id)-\(node.id)")
        guard let result = results.first, result.ok, let download = result.download else {
            throw BackendError(backend: worker.name, message: "node \(node.name) did not take the download of \(entry.key): \(results.first?.error ?? "no answer")",
                               retryable: true)
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let state = try await fleet.downloadStatus(download.id, on: node)
            switch state.status {
            case "succeeded":
                guard let path = state.paths.first else {
                    throw BackendError(backend: worker.name, message: "node \(node.name) pulled \(entry.key) but reports no file", retryable: false)
                }
                return (path as NSString).lastPathComponent
            case "failed", "cancelled":
                throw BackendError(backend: worker.name, message: "pulling \(entry.key) on node \(node.name) \(state.status): \(state.error ?? "no detail")",
                                   retryable: state.status == "cancelled")
            default:
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        throw BackendError(backend: worker.name, message: "pulling \(entry.key) on node \(node.name) took longer than \(timeout)", retryable: true)
    }

    /// Where the entry can be pulled from: where it came from, else its Civitai version or
    /// Hugging Face file.
    func pullReference(_ entry: CatalogEntry, worker: Worker) throws -> HubReference {
        var candidates: [String] = []
        if let source = entry.source { candidates.append(source) }
        if let version = entry.civitaiVersionID { candidates.append("civitai:\(version)") }
        if let repo = entry.hfRepo {
            candidates.append(entry.hfPath.map { "hf:\(repo)/\($0)" } ?? "hf:\(repo)")
        }
        for candidate in candidates {
            if let reference = try? HubReference.parse(candidate) { return reference }
        }
        throw BackendError(backend: worker.name, message: "model \(entry.key) is not on disk at \(entry.path), and the catalog has no source to pull it from (set civitai_model_id/version or path to an hf repo)",
                           retryable: false)
    }
}
