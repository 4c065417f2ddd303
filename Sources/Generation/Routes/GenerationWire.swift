import Core
import Foundation
import Hummingbird

/// A generation as Atelier's API shows it.
struct GenerationResponse: ResponseEncodable {
    var id: String
    var status: String
    var params: GenerationParams
    var result: ResultBody?
    var error: String?
    var attempt: Int
    var owner_id: String
    var created_at: Date
    var started_at: Date?
    var finished_at: Date?

    struct ResultBody: Encodable {
        var image_urls: [String]
        var images: [String]
        var seed: Int64
        var width: Int
        var height: Int
        var model: String?
        var backend: String
        var queue_ms: Int64
        var run_ms: Int64
    }

    /// Progress (0…1) of a running job, when its backend reports it and it runs in this process.
    var progress: Double?

    init(_ job: Job, links: ImageLinks, progress: Double? = nil) {
        id = job.id
        status = job.state.rawValue
        params = job.params
        self.progress = job.state == .started ? progress : (job.state == .success ? 1 : nil)
        result = job.result.map {
            ResultBody(image_urls: $0.images.map { links.url($0) }, images: $0.images, seed: $0.seed, width: $0.width,
                       height: $0.height, model: $0.model, backend: $0.backend, queue_ms: $0.queue_ms, run_ms: $0.run_ms)
        }
        // An error from a retried attempt is not the job's error while it can still succeed.
        error = job.state == .failed ? job.error : nil
        attempt = job.attempt
        owner_id = job.ownerID
        created_at = Timestamp.date(job.createdAt)
        started_at = job.startedAt.map(Timestamp.date)
        finished_at = job.finishedAt.map(Timestamp.date)
    }
}

/// POST body: one prompt or a batch (`prompts`), with seed 001's fields.
struct GenerationRequest: Decodable {
    var prompt: String?
    var prompts: [String]?
    var negative_prompt: String?
    var width: Int?
    var height: Int?
    var steps: Int?
    var seed: Int64?
    var model: String?
    var cfg_scale: Double?
    var loras: [LoraRef]?
    var init_image: String?
    var denoising_strength: Double?
    var priority: Int?
    var use_enhanced_prompts: Bool?

    func params(prompt: String) throws -> GenerationParams {
        if let priority, !(-100...100).contains(priority) { throw AppError.validation(field: "priority", "must be from -100 to 100") }
        return try GenerationParams(prompt: prompt, negative_prompt: negative_prompt, width: width ?? 832, height: height ?? 1216,
                                    steps: steps ?? 30, seed: seed, model: model, cfg_scale: cfg_scale, loras: loras,
                                    init_image: init_image, denoising_strength: denoising_strength).validated()
    }
}

enum GenerationSchemas {
    static let params = Schema.object([
        ("prompt", Schema.string), ("negative_prompt", Schema.nullable(Schema.string)),
        ("width", Schema.integer), ("height", Schema.integer), ("steps", Schema.integer),
        ("seed", Schema.nullable(Schema.integer)), ("model", Schema.nullable(Schema.string)),
        ("cfg_scale", Schema.nullable(Schema.number)), ("loras", Schema.nullable(Schema.array(lora))),
        ("init_image", Schema.nullable(Schema.string)), ("denoising_strength", Schema.nullable(Schema.number)),
    ])

    static let lora = Schema.object([("name", Schema.string(minLength: 1, maxLength: 200)),
                                     ("weight", Schema.nullable(["type": "number", "minimum": -5, "maximum": 5]))], required: ["name"])

    static let generation = Schema.object([
        ("id", Schema.string), ("status", Schema.string(enum: JobState.allCases.map(\.rawValue))),
        ("params", Schema.ref("GenerationParams")),
        ("result", Schema.nullable(Schema.object([
            ("image_urls", Schema.array(Schema.string)), ("images", Schema.array(Schema.string)), ("seed", Schema.integer),
            ("width", Schema.integer), ("height", Schema.integer), ("model", Schema.nullable(Schema.string)),
            ("backend", Schema.string), ("queue_ms", Schema.integer), ("run_ms", Schema.integer),
        ]))),
        ("error", Schema.nullable(Schema.string)), ("attempt", Schema.integer), ("owner_id", Schema.string),
        ("progress", Schema.nullable(Schema.number)),
        ("created_at", Schema.dateTime), ("started_at", Schema.nullable(Schema.dateTime)),
        ("finished_at", Schema.nullable(Schema.dateTime)),
    ], required: ["id", "status", "params", "attempt", "owner_id", "created_at"])

    static func request(batch: Bool) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("negative_prompt", Schema.nullable(Schema.string(maxLength: 4000))),
            ("width", ["type": "integer", "minimum": 64, "maximum": 4096, "multipleOf": 8]),
            ("height", ["type": "integer", "minimum": 64, "maximum": 4096, "multipleOf": 8]),
            ("steps", Schema.integer(minimum: 1, maximum: 150)),
            ("seed", Schema.nullable(Schema.integer(minimum: 0))), ("model", Schema.nullable(Schema.string)),
            ("cfg_scale", Schema.nullable(["type": "number", "minimum": 0, "maximum": 30])),
            ("loras", Schema.nullable(["type": "array", "maxItems": 8, "items": lora])),
            ("init_image", Schema.nullable(Schema.string(description: "img2img source: base64 image or data: URI"))),
            ("denoising_strength", Schema.nullable(["type": "number", "minimum": 0, "maximum": 1])),
            ("priority", Schema.integer(minimum: -100, maximum: 100)),
            ("use_enhanced_prompts", Schema.boolean),
        ]
        if batch {
            fields.insert(("prompts", ["type": "array", "minItems": 1, "maxItems": 100,
                                       "items": ["type": "string", "minLength": 1, "maxLength": 4000, "pattern": "\\S"]]), at: 0)
            return Schema.object(fields, required: ["prompts"])
        }
        fields.insert(("prompt", ["type": "string", "minLength": 1, "maxLength": 4000, "pattern": "\\S"]), at: 0)
        return Schema.object(fields, required: ["prompt"])
    }
}
