import Accounts
import Core
import Foundation
import SQLKit
import Storage

/// Enqueues generations for callers: validation, the per-hour limit (checked by `JobStore.insert`
/// in the inserting transaction), idempotency, ownership.
package struct GenerationService: Sendable {
    package let store: JobStore
    package let pool: RunnerPool
    package let images: ImageStore
    /// Seed 001's switch: generation routes need credentials.
    package let authRequired: Bool
    /// Generations per user (or per client address for guests) per hour; 0 = no limit.
    package let perHour: Int
    /// The model catalog, for defaults and seed 003's model names (nil: no catalog).
    package let catalog: (any ModelCatalog)?
    /// Image URLs: public, or signed and expiring.
    package let links: ImageLinks
    /// Rewrites prompts for `use_enhanced_prompts` (nil: no LLM wired).
    package let enhancer: (any PromptEnhancer)?
    let database: Database

    package init(
        database: Database,
        pool: RunnerPool,
        images: ImageStore,
        authRequired: Bool,
        perHour: Int,
        links: ImageLinks,
        catalog: (any ModelCatalog)? = nil,
        enhancer: (any PromptEnhancer)? = nil
    ) {
        self.database = database
        self.enhancer = enhancer
        self.links = links
        self.catalog = catalog
        self.store = pool.jobs
        self.pool = pool
        self.images = images
        self.authRequired = authRequired
        self.perHour = perHour
    }

    /// Who owns jobs from this request: the user, or (when auth is optional) the client address.
    package func owner(_ context: AppRequestContext) throws -> String {
        if let principal = context.principal { return principal.userID }
        if authRequired {
            throw AppError.unauthorized("generation needs credentials: send Authorization: Bearer <token or API key>")
        }
        return "guest:\(context.clientAddress)"
    }

    /// The owner of new work or of a cancel: as `owner`, and read-only (guest) accounts are refused.
    package func writer(_ context: AppRequestContext) throws -> String {
        if context.principal?.role == .guest { throw AppError.forbidden("guest accounts are read-only: sign in as a user to generate or cancel") }
        return try owner(context)
    }

    package func enqueue(_ params: [GenerationParams], owner: String, priority: Int = 0, idempotencyKey: String?) async throws -> [Job] {
        guard !params.isEmpty else { throw AppError.validation(field: "prompts", "must not be empty") }
        guard params.count <= 100 else { throw AppError.validation(field: "prompts", "at most 100 per batch") }
        var params = params
        if let catalog {
            for index in params.indices { params[index] = try await params[index].applyingCatalog(catalog) }
        }
        let now = Timestamp.millis(Date())
        let jobs = params.enumerated().map { index, item in
            Job.pending(
                owner: owner,
                params: item,
                priority: priority,
                idempotencyKey: Self.jobKey(idempotencyKey, index: index, of: params.count),
                now: now
            )
        }
        let stored = try await store.insert(jobs, perHour: perHour)
        await pool.notify()
        return stored
    }

    /// The idempotency key of job `index` of a request of `count`: an empty Idempotency-Key
    /// header is no key, and one key for a batch covers every job in it, each with its position.
    static func jobKey(_ key: String?, index: Int, of count: Int) -> String? {
        guard let key, !key.isEmpty else { return nil }
        return count > 1 ? "\(key)#\(index)" : key
    }

    /// A job as the API shows it (absolute, signed image URLs; live progress).
    func response(_ job: Job, base: String?) -> GenerationResponse {
        GenerationResponse(job, links: links, base: base, progress: job.state == .started ? pool.progress(of: job.id) : nil)
    }

    /// With private images and no signed link: the image's owner or an admin may fetch it.
    func requireImageAccess(_ hash: String, context: AppRequestContext) async throws {
        guard let principal = context.principal else {
            throw AppError.unauthorized("images are private here: use the signed image_urls of the generation, or send credentials")
        }
        if principal.role == .admin { return }
        let pattern = "%\(hash)%"
        let owned = try await database.sql.raw(
            """
            SELECT id FROM jobs WHERE owner_id = \(bind: principal.userID) AND state = 'success' AND result LIKE \(bind: pattern) LIMIT 1
            """
        ).first()
        guard owned != nil else { throw AppError.notFound("no image \(hash).png") }
    }

    package func cancel(_ job: Job) async throws -> Job {
        guard !job.state.isFinal else { throw AppError.conflict("generation \(job.id) has already ended (\(job.state.rawValue))") }
        let updated = try await store.cancel(id: job.id, now: Timestamp.millis(Date())) ?? job
        pool.interrupt(job.id)
        if updated.state == .cancelled { pool.events.finished(updated) }
        return updated
    }
}
