import Bots
import Core
import Foundation
import Generation
import Hub

/// The studio bot's view of the generation queue (Bots does not import Generation): jobs owned
/// by the person's ledger account, so the queue's per-owner hourly limit and fairness apply to
/// each Telegram user as to any API caller.
struct StudioImageGenerator: ImageGenerator {
    let service: GenerationService
    let catalog: CatalogStore
    /// Absolute image links (public or signed), for the `Generation.result_url` column.
    let imageURL: @Sendable (String) -> String

    func styles() async throws -> [StudioStyle] {
        var styles: [StudioStyle] = []
        for kind in [ModelKind.checkpoint, .lora] {
            // People's trained LoRAs are theirs: offered to them as their own models, not to all.
            for entry in try await catalog.list(kind: kind, page: PageRequest(limit: 100)) where !ReplicateLoraTrainer.isTrained(entry) {
                styles.append(StudioStyle(key: "catalog:\(entry.key)", title: entry.name, detail: kind.rawValue))
            }
        }
        return styles
    }

    func submit(prompt: String, model: String?, lora: String?, owner: String, key: String) async throws -> String {
        let params = GenerationParams(
            prompt: prompt,
            width: 1024,
            height: 1024,
            steps: 30,
            model: model,
            loras: lora.map { [LoraRef(name: $0, weight: nil)] }
        )
        let jobs = try await service.enqueue([try params.validated()], owner: owner, idempotencyKey: key)
        guard let job = jobs.first else { throw AppError.unavailable("the queue took no job") }
        return job.id
    }

    func progress(job id: String) async throws -> ImageProgress {
        guard let job = try await service.store.find(id: id) else { return .failed("the job is gone") }
        switch job.state {
        case .pending:
            // Next in line (nobody ahead) shows the plain "queued" text with the prompt.
            let ahead = try await service.store.ahead(of: job)
            return .queued(position: ahead > 0 ? ahead : nil)
        case .started: return .running(fraction: service.pool.progress(of: id))
        case .cancelled: return .cancelled
        case .failed: return .failed(job.error ?? "the backend failed")
        case .success:
            guard let hash = job.result?.images.first, let png = service.images.get(hash) else { return .failed("the image is missing") }
            return .succeeded(png: png, url: imageURL(hash))
        }
    }

    func cancel(job id: String) async throws {
        guard let job = try await service.store.find(id: id), !job.state.isFinal else { return }
        _ = try await service.cancel(job)
    }
}
