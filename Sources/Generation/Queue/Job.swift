import Core
import Foundation
import PostgresKit
import SQLKit

/// What to generate. Wire names are seed 001's (`prompt`, `width`, `height`, `steps`).
package struct GenerationParams: Codable, Sendable, Equatable {
    package var prompt: String
    package var negative_prompt: String?
    package var width: Int
    package var height: Int
    package var steps: Int
    package var seed: Int64?
    package var model: String?
    package var cfg_scale: Double?
    /// LoRAs applied on top of the checkpoint, by catalog name or file name.
    package var loras: [LoraRef]?
    /// img2img: the source picture (base64 PNG/JPEG, or a `data:` URI) and how far to move from it.
    package var init_image: String?
    package var denoising_strength: Double?

    package init(
        prompt: String,
        negative_prompt: String? = nil,
        width: Int = 832,
        height: Int = 1216,
        steps: Int = 30,
        seed: Int64? = nil,
        model: String? = nil,
        cfg_scale: Double? = nil,
        loras: [LoraRef]? = nil,
        init_image: String? = nil,
        denoising_strength: Double? = nil
    ) {
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.width = width
        self.height = height
        self.steps = steps
        self.seed = seed
        self.model = model
        self.cfg_scale = cfg_scale
        self.loras = loras
        self.init_image = init_image
        self.denoising_strength = denoising_strength
    }

    /// `txt2img`, or `img2img` when a source picture is given.
    package var kind: String { init_image == nil ? "txt2img" : "img2img" }

    /// Checks ranges and names the field that is wrong.
    package func validated() throws -> GenerationParams {
        let trimmed = prompt.trimmingWhitespace
        guard !trimmed.isEmpty else { throw AppError.validation(field: "prompt", "must not be empty") }
        guard trimmed.unicodeScalars.count <= GenerationBounds.prompt else {
            throw AppError.validation(field: "prompt", "must be at most \(GenerationBounds.prompt) characters")
        }
        try Bounded.text(negative_prompt, field: "negative_prompt", max: GenerationBounds.negativePrompt)
        guard (64...4096).contains(width), width % 8 == 0 else {
            throw AppError.validation(field: "width", "must be a multiple of 8 from 64 to 4096")
        }
        guard (64...4096).contains(height), height % 8 == 0 else {
            throw AppError.validation(field: "height", "must be a multiple of 8 from 64 to 4096")
        }
        guard (1...150).contains(steps) else { throw AppError.validation(field: "steps", "must be from 1 to 150") }
        if let seed, seed < 0 { throw AppError.validation(field: "seed", "must be 0 or more") }
        if let cfg = cfg_scale, !(0...30).contains(cfg) { throw AppError.validation(field: "cfg_scale", "must be from 0 to 30") }
        if let model, !Self.isName(model) { throw AppError.validation(field: "model", Self.nameRule) }
        if let loras {
            guard loras.count <= GenerationBounds.loras else {
                throw AppError.validation(field: "loras", "at most \(GenerationBounds.loras) LoRAs per image")
            }
            for (index, lora) in loras.enumerated() {
                guard Self.isName(lora.name) else { throw AppError.validation(field: "loras[\(index)].name", Self.nameRule) }
                if let weight = lora.weight, !(-5...5).contains(weight) {
                    throw AppError.validation(field: "loras[\(index)].weight", "must be from -5 to 5")
                }
            }
        }
        if let image = init_image {
            guard image.utf8.count <= GenerationBounds.initImageBytes else {
                throw AppError.validation(field: "init_image", "must be at most 16 MiB of base64")
            }
            guard ImageData.decode(image) != nil else { throw AppError.validation(field: "init_image", "must be base64 image data or a data: URI") }
        }
        if let strength = denoising_strength, !(0...1).contains(strength) {
            throw AppError.validation(field: "denoising_strength", "must be from 0 to 1")
        }
        var copy = self
        copy.prompt = trimmed
        return copy
    }

    static let nameRule = "must be 1 to \(GenerationBounds.name) characters, with no control characters"

    /// A model or LoRA name: looked up in the catalog and stored in its own column, so it is kept
    /// to names a file or a catalog key can have.
    static func isName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.count <= GenerationBounds.name && !name.containsControlCharacters
    }
}

/// A LoRA and its strength (the backend's default, usually 1, when `weight` is missing).
package struct LoraRef: Codable, Sendable, Equatable {
    package var name: String
    package var weight: Double?

    package init(name: String, weight: Double? = nil) {
        self.name = name
        self.weight = weight
    }
}

/// Seed 001's states.
package enum JobState: String, Sendable, Codable, CaseIterable {
    case pending, started, success, failed, cancelled

    package var isFinal: Bool { self == .success || self == .failed || self == .cancelled }
}

/// What a finished generation produced.
package struct JobResult: Codable, Sendable, Equatable {
    package var images: [String]
    package var seed: Int64
    package var width: Int
    package var height: Int
    package var model: String?
    package var backend: String
    package var queue_ms: Int64
    package var run_ms: Int64
}

package struct Job: Sendable, Equatable {
    package var id: String
    package var ownerID: String
    package var kind: String
    package var params: GenerationParams
    package var state: JobState
    package var priority: Int
    package var attempt: Int
    package var maxAttempts: Int
    package var idempotencyKey: String?
    package var result: JobResult?
    package var error: String?
    package var runAfter: Int64
    package var createdAt: Int64
    package var updatedAt: Int64
    package var startedAt: Int64?
    package var finishedAt: Int64?
    /// The worker that ran (or runs) it.
    package var workerID: String?
    /// Place in the fair queue (see `JobStore.insert`).
    package var fairKey: Int64 = 0
}

struct JobRow {
    var id: String
    var owner_id: String
    var kind: String
    var params: String
    var state: String
    var priority: Int
    var attempt: Int
    var max_attempts: Int
    var idempotency_key: String?
    var result: String?
    var error: String?
    var run_after: Int64
    var lease_holder: String?
    var lease_expires_at: Int64?
    var created_at: Int64
    var updated_at: Int64
    var started_at: Int64?
    var finished_at: Int64?
    var worker_id: String?
    var fair_key: Int64

    /// Reads a row column by column (SQLKit's Codable row decoder cost twice as much per row,
    /// and claims decode a row per job).
    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        owner_id = try row.decode(column: "owner_id", as: String.self)
        kind = try row.decode(column: "kind", as: String.self)
        params = try row.decode(column: "params", as: String.self)
        state = try row.decode(column: "state", as: String.self)
        priority = try row.decode(column: "priority", as: Int.self)
        attempt = try row.decode(column: "attempt", as: Int.self)
        max_attempts = try row.decode(column: "max_attempts", as: Int.self)
        idempotency_key = try row.decode(column: "idempotency_key", as: String?.self)
        result = try row.decode(column: "result", as: String?.self)
        error = try row.decode(column: "error", as: String?.self)
        run_after = try row.decode(column: "run_after", as: Int64.self)
        lease_holder = try row.decode(column: "lease_holder", as: String?.self)
        lease_expires_at = try row.decode(column: "lease_expires_at", as: Int64?.self)
        created_at = try row.decode(column: "created_at", as: Int64.self)
        updated_at = try row.decode(column: "updated_at", as: Int64.self)
        started_at = try row.decode(column: "started_at", as: Int64?.self)
        finished_at = try row.decode(column: "finished_at", as: Int64?.self)
        worker_id = try row.decode(column: "worker_id", as: String?.self)
        fair_key = try row.decode(column: "fair_key", as: Int64.self)
    }

    /// The same from a PostgreSQL row with `JobStore.columns` in their order, decoded by type
    /// (see `Database.postgresTransaction`): claims read one per job.
    init(postgres row: PostgresRow) throws {
        (
            id, owner_id, kind, params, state, priority, attempt, max_attempts, idempotency_key, result, error, run_after,
            lease_holder, lease_expires_at, created_at, updated_at, started_at, finished_at, worker_id, fair_key
        ) = try row.decode(
            (
                String, String, String, String, String, Int, Int, Int, String?, String?, String?, Int64,
                String?, Int64?, Int64, Int64, Int64?, Int64?, String?, Int64
            ).self
        )
    }

    func job() throws -> Job {
        Job(
            id: id,
            ownerID: owner_id,
            kind: kind,
            params: try GenerationParams(storedJSON: params),
            state: JobState(rawValue: state) ?? .failed,
            priority: priority,
            attempt: attempt,
            maxAttempts: max_attempts,
            idempotencyKey: idempotency_key,
            result: result.flatMap { try? JSONDecoder().decode(JobResult.self, from: Data($0.utf8)) },
            error: error,
            runAfter: run_after,
            createdAt: created_at,
            updatedAt: updated_at,
            startedAt: started_at,
            finishedAt: finished_at,
            workerID: worker_id,
            fairKey: fair_key
        )
    }
}

extension Job {
    /// A new job waiting to run.
    /// The prefix of job ids (`ID.make`).
    package static let idPrefix = "gen"

    package static func pending(
        id: String = ID.make(Job.idPrefix),
        owner: String,
        params: GenerationParams,
        priority: Int = 0,
        maxAttempts: Int = 3,
        idempotencyKey: String? = nil,
        now: Int64
    ) -> Job {
        Job(
            id: id,
            ownerID: owner,
            kind: params.kind,
            params: params,
            state: .pending,
            priority: priority,
            attempt: 0,
            maxAttempts: maxAttempts,
            idempotencyKey: idempotencyKey,
            result: nil,
            error: nil,
            runAfter: now,
            createdAt: now,
            updatedAt: now,
            startedAt: nil,
            finishedAt: nil
        )
    }
}
