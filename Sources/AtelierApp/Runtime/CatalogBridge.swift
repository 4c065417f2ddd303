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
        CatalogModel(
            key: entry.key,
            kind: entry.kind.rawValue,
            fileName: (entry.path as NSString).lastPathComponent,
            triggerWords: entry.triggerWords,
            defaultWeight: entry.defaultWeight,
            defaultNegative: entry.defaultNegative
        )
    }
}

/// Before a job runs, makes sure the catalog models it names are on the worker's machine (seed
/// 003's automatic LoRA download): on this machine through `HubService.pull`, on a fleet node by
/// sending it the download and following it there. Then names them by file name, as the GPU
/// software knows them, with the checkpoint entry's VAE (`vae_path`). Names that are not catalog
/// keys pass through unchanged.
struct CatalogProvisioner: ModelProvisioner {
    let catalog: CatalogStore
    let hub: HubService
    let fleet: FleetService
    /// Links to files only this server has (a LoRA trained here), for fleet nodes.
    let fileLinks: CatalogFileLinks
    /// `ATELIER_PUBLIC_URL`: where the nodes reach this server.
    let publicBase: String?
    let logger: Logger
    /// How long a pull may take before the attempt fails (and is retried).
    var timeout: Duration = .seconds(3600)

    func prepare(_ params: GenerationParams, for worker: GPUWorker) async throws -> PreparedModels {
        var params = params
        var vae: String?
        if let model = params.model, let entry = try await catalog.find(key: model) {
            params.model = try await ensure(entry, on: worker)
            if let vaePath = entry.vaePath, !vaePath.isEmpty { vae = try await ensureVAE(vaePath, for: entry, on: worker) }
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
        return PreparedModels(params: params, vae: vae)
    }

    /// Whether `path` is a model file here (not a folder, not a hub id that happens to resolve).
    static func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return path.hasPrefix("/") && FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// Makes the entry's file present where the worker runs; returns its file name there.
    func ensure(_ entry: CatalogEntry, on worker: GPUWorker) async throws -> String {
        if let nodeID = worker.nodeID {
            let reference = try await nodeReference(entry, worker: worker)
            return try await ensureOnNode(reference, kind: entry.kind, label: entry.key, idempotency: entry.id, nodeID: nodeID, worker: worker)
        }
        if Self.isFile(entry.path) { return (entry.path as NSString).lastPathComponent }
        let reference = try await pullReference(entry, worker: worker)
        logger.info("pulling a model a job needs", metadata: ["model": "\(entry.key)", "ref": "\(reference)"])
        let file = try await pullHere(reference, kind: entry.kind, label: entry.key, worker: worker)
        // The pull recorded the file under the hub's name for it; keep the entry the jobs name
        // (with its defaults) and point it at the file.
        var updated = entry
        updated.path = file.path
        updated.status = .available
        updated.sha256 = file.sha256
        updated.sizeBytes = file.size
        updated.civitaiModelID = updated.civitaiModelID ?? file.entry.civitaiModelID
        updated.civitaiVersionID = updated.civitaiVersionID ?? file.entry.civitaiVersionID
        updated.hfPath = updated.hfPath ?? file.entry.hfPath
        updated.updatedAt = Timestamp.millis(Date())
        if file.entry.id != entry.id { try await catalog.delete(id: file.entry.id) }
        try await catalog.upsert(updated)
        return (file.path as NSString).lastPathComponent
    }

    /// The checkpoint's VAE where the worker runs: a catalog key, a Hugging Face repository
    /// (seed 003's `madebyollin/sdxl-vae-fp16-fix`: its VAE file, pulled once), a local file, or
    /// a file name the GPU software already has.
    func ensureVAE(_ vaePath: String, for checkpoint: CatalogEntry, on worker: GPUWorker) async throws -> String {
        if let entry = try await catalog.find(key: vaePath) { return try await ensure(entry, on: worker) }
        if vaePath.hasPrefix("/") || vaePath.hasPrefix("./") {
            guard worker.nodeID != nil || Self.isFile(ModelFolders.resolve(vaePath)) else {
                throw BackendError(
                    backend: worker.name,
                    message: "the VAE of \(checkpoint.key) (vae_path) is not a file here; fix vae_path in the catalog",
                    retryable: false
                )
            }
            return (vaePath as NSString).lastPathComponent
        }
        let parts = vaePath.split(separator: "/")
        guard parts.count == 2, !vaePath.contains(".safetensors") else { return (vaePath as NSString).lastPathComponent }
        if worker.nodeID == nil, let pulled = try await catalog.available(hfRepo: vaePath, kind: .vae), Self.isFile(pulled.path) {
            return (pulled.path as NSString).lastPathComponent
        }
        let file = try await hubCall(label: "the VAE of \(checkpoint.key)", worker: worker) {
            try await hub.modelFile(inRepo: vaePath, kind: .vae)
        }
        let reference = HubReference.huggingFace(repo: vaePath, path: file, revision: "main")
        if let nodeID = worker.nodeID {
            return try await ensureOnNode(
                reference,
                kind: .vae,
                label: "the VAE of \(checkpoint.key)",
                idempotency: "vae-\(vaePath)",
                nodeID: nodeID,
                worker: worker
            )
        }
        logger.info("pulling a VAE a job needs", metadata: ["model": "\(checkpoint.key)", "ref": "\(reference)"])
        return (try await pullHere(reference, kind: .vae, label: "the VAE of \(checkpoint.key)", worker: worker).path as NSString).lastPathComponent
    }

    func pullHere(_ reference: HubReference, kind: ModelKind, label: String, worker: GPUWorker) async throws -> PulledFile {
        let pulled = try await hubCall(label: label, worker: worker) {
            try await hub.pull(reference, layout: try hub.layout(nil), kind: kind)
        }
        guard let file = pulled.first else {
            throw BackendError(backend: worker.name, message: "pulling \(label) gave no file", retryable: false)
        }
        return file
    }

    /// A hub call whose failure fails the job with the hub's advice.
    func hubCall<T>(label: String, worker: GPUWorker, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch {
            // Hub errors that say "not found" or "needs a token" will not change on a retry.
            let retryable = (error as? AppError).map { $0.status.code >= 500 || $0.status.code == 429 } ?? true
            throw BackendError(
                backend: worker.name,
                message: "pulling \(label) failed: \((error as? AppError)?.detail ?? "\(error)")",
                retryable: retryable
            )
        }
    }

    func ensureOnNode(
        _ reference: HubReference,
        kind: ModelKind,
        label: String,
        idempotency: String,
        nodeID: String,
        worker: GPUWorker
    ) async throws -> String {
        guard let node = try await fleet.store.find(nodeID) else {
            throw BackendError(backend: worker.name, message: "worker's node \(nodeID) is not registered (see /api/v1/fleet/nodes)", retryable: false)
        }
        // One key per model and node: every job needing it follows the same download there, and
        // a node that has the file answers at once.
        let results = await fleet.download(
            ref: reference.description,
            layout: nil,
            kind: kind.rawValue,
            nodes: [node],
            idempotencyKey: "provision-\(idempotency)-\(node.id)"
        )
        guard let result = results.first, result.ok, let download = result.download else {
            throw BackendError(
                backend: worker.name,
                message: "node \(node.name) did not take the download of \(label): \(results.first?.error ?? "no answer")",
                retryable: true
            )
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let state = try await fleet.downloadStatus(download.id, on: node)
            switch state.status {
            case "succeeded":
                guard let path = state.paths.first else {
                    throw BackendError(backend: worker.name, message: "node \(node.name) pulled \(label) but reports no file", retryable: false)
                }
                return (path as NSString).lastPathComponent
            case "failed", "cancelled":
                throw BackendError(
                    backend: worker.name,
                    message: "pulling \(label) on node \(node.name) \(state.status): \(state.error ?? "no detail")",
                    retryable: state.status == "cancelled"
                )
            default:
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        throw BackendError(backend: worker.name, message: "pulling \(label) on node \(node.name) took longer than \(timeout)", retryable: true)
    }

    /// Where a fleet node pulls the entry from: where it came from when that is somewhere a node
    /// can reach; a file that exists only here (a LoRA trained for someone, an import) from this
    /// server, by a signed link that carries its SHA-256.
    func nodeReference(_ entry: CatalogEntry, worker: GPUWorker) async throws -> HubReference {
        guard Self.isFile(entry.path), !Self.hasRemoteSource(entry), hub.folders.locate(entry.path) != nil else {
            return try await pullReference(entry, worker: worker)
        }
        guard let publicBase else {
            throw BackendError(
                backend: worker.name,
                message:
                    "\(entry.key) is only on this server and worker \(worker.name) runs on a GPU node: set ATELIER_PUBLIC_URL to the address the nodes reach this server at, so they can fetch it",
                retryable: false
            )
        }
        var sha256 = entry.sha256
        if sha256 == nil {
            // Hashed once and kept: the node checks the bytes it gets against it.
            let hashed = try FileHashing.sha256(path: entry.path)
            var updated = entry
            updated.sha256 = hashed.sha256
            updated.sizeBytes = hashed.size
            updated.updatedAt = Timestamp.millis(Date())
            try await catalog.upsert(updated)
            sha256 = hashed.sha256
        }
        guard let url = URL(string: publicBase + fileLinks.path(for: entry, sha256: sha256)) else {
            throw BackendError(backend: worker.name, message: "ATELIER_PUBLIC_URL does not make a valid link for \(entry.key)", retryable: false)
        }
        return .url(url)
    }

    /// Whether the entry names a Civitai, Hugging Face or URL source a node can pull by itself.
    static func hasRemoteSource(_ entry: CatalogEntry) -> Bool {
        if let source = entry.source, (try? HubReference.parse(source)) != nil { return true }
        return entry.civitaiVersionID != nil || entry.civitaiModelID != nil || entry.hfRepo != nil
    }

    /// Where the entry can be pulled from: where it came from, else its Civitai version, its
    /// Civitai model (the newest version), or its Hugging Face file; a whole repository gives the
    /// one file of the entry's kind, not every file in it.
    func pullReference(_ entry: CatalogEntry, worker: GPUWorker) async throws -> HubReference {
        if let source = entry.source, let reference = try? HubReference.parse(source) { return reference }
        if let version = entry.civitaiVersionID { return .civitaiVersion(versionID: version, query: [:]) }
        if let model = entry.civitaiModelID { return .civitaiModel(modelID: model, versionID: nil) }
        if let repo = entry.hfRepo {
            let revision = entry.hfRevision ?? "main"
            if let path = entry.hfPath { return .huggingFace(repo: repo, path: path, revision: revision) }
            let path = try await hubCall(label: entry.key, worker: worker) {
                try await hub.modelFile(inRepo: repo, revision: revision, kind: entry.kind)
            }
            return .huggingFace(repo: repo, path: path, revision: revision)
        }
        throw BackendError(
            backend: worker.name,
            message:
                "model \(entry.key) is not on disk at \(hub.folders.display(entry.path)), and the catalog has no source to pull it from (set civitai_model_id/version or path to an hf repo)",
            retryable: false
        )
    }
}
