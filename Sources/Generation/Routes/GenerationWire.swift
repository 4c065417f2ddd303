import Core
import Foundation
import Hummingbird
import NIOCore

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
    /// img2img: the length of the source picture as it was sent. The picture itself (up to 16 MiB
    /// of base64) is not echoed: a page of 200 generations, or every SSE event, would carry it.
    var init_image_length: Int?

    /// `base` (`https://host`) makes image links absolute; nil leaves them as paths.
    init(_ job: Job, links: ImageLinks, base: String?, progress: Double? = nil) {
        id = job.id
        status = job.state.rawValue
        params = job.params
        init_image_length = params.init_image?.utf8.count
        params.init_image = nil
        self.progress = job.state == .started ? progress : (job.state == .success ? 1 : nil)
        result = job.result.map {
            ResultBody(
                image_urls: $0.images.map { (base ?? "") + links.url($0) },
                images: $0.images,
                seed: $0.seed,
                width: $0.width,
                height: $0.height,
                model: $0.model,
                backend: $0.backend,
                queue_ms: $0.queue_ms,
                run_ms: $0.run_ms
            )
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
struct GenerationRequest: Decodable, Equatable {
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
        return try GenerationParams(
            prompt: prompt,
            negative_prompt: negative_prompt,
            width: width ?? 832,
            height: height ?? 1216,
            steps: steps ?? 30,
            seed: seed,
            model: model,
            cfg_scale: cfg_scale,
            loras: loras,
            init_image: init_image,
            denoising_strength: denoising_strength
        ).validated()
    }
}

extension GenerationRequest: QuickJSONDecodable {
    /// The usual body (known fields, strings without escapes, whole numbers where integers go)
    /// without `JSONDecoder`; nil for anything else, including a field given twice or one this
    /// version does not know, which `JSONDecoder` then reads (or rejects with its error).
    static func quickDecode(_ body: ByteBuffer) -> GenerationRequest? {
        var scanner = JSONScanner(bytes: Array(body.readableBytesView))
        guard scanner.beginObject() else { return nil }
        var request = GenerationRequest()
        var seen: Set<String> = []
        var first = true
        while let key = scanner.nextKey(first: first) {
            first = false
            guard seen.insert(key).inserted else { return nil }
            if scanner.null() { continue }  // every field is optional: null is as if absent
            switch key {
            case "prompt":
                guard let value = scanner.string() else { return nil }
                request.prompt = value
            case "prompts":
                guard scanner.beginArray() else { return nil }
                var prompts: [String] = []
                var firstPrompt = true
                while scanner.nextElement(first: firstPrompt) {
                    firstPrompt = false
                    guard let prompt = scanner.string() else { return nil }
                    prompts.append(prompt)
                }
                guard !scanner.failed else { return nil }
                request.prompts = prompts
            case "negative_prompt":
                guard let value = scanner.string() else { return nil }
                request.negative_prompt = value
            case "width":
                guard let value = scanner.int().flatMap(Int.init(exactly:)) else { return nil }
                request.width = value
            case "height":
                guard let value = scanner.int().flatMap(Int.init(exactly:)) else { return nil }
                request.height = value
            case "steps":
                guard let value = scanner.int().flatMap(Int.init(exactly:)) else { return nil }
                request.steps = value
            case "seed":
                guard let value = scanner.int() else { return nil }
                request.seed = value
            case "model":
                guard let value = scanner.string() else { return nil }
                request.model = value
            case "cfg_scale":
                guard let value = scanner.double() else { return nil }
                request.cfg_scale = value
            case "loras":
                guard let value = GenerationParams.quickLoras(&scanner) else { return nil }
                request.loras = value
            case "init_image":
                guard let value = scanner.string() else { return nil }
                request.init_image = value
            case "denoising_strength":
                guard let value = scanner.double() else { return nil }
                request.denoising_strength = value
            case "priority":
                guard let value = scanner.int().flatMap(Int.init(exactly:)) else { return nil }
                request.priority = value
            case "use_enhanced_prompts":
                guard let value = scanner.bool() else { return nil }
                request.use_enhanced_prompts = value
            default: return nil
            }
        }
        guard !scanner.failed, scanner.atEnd() else { return nil }
        return request
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

    static let lora = Schema.object(
        [
            ("name", Schema.string(minLength: 1, maxLength: GenerationBounds.name)),
            ("weight", Schema.nullable(["type": "number", "minimum": -5, "maximum": 5])),
        ],
        required: ["name"]
    )

    static let generation = Schema.object(
        [
            ("id", Schema.string), ("status", Schema.string(enum: JobState.allCases.map(\.rawValue))),
            ("params", Schema.ref("GenerationParams")),
            (
                "result",
                Schema.nullable(
                    Schema.object([
                        ("image_urls", Schema.array(Schema.string)), ("images", Schema.array(Schema.string)), ("seed", Schema.integer),
                        ("width", Schema.integer), ("height", Schema.integer), ("model", Schema.nullable(Schema.string)),
                        ("backend", Schema.string), ("queue_ms", Schema.integer), ("run_ms", Schema.integer),
                    ])
                )
            ),
            ("error", Schema.nullable(Schema.string)), ("attempt", Schema.integer), ("owner_id", Schema.string),
            ("progress", Schema.nullable(Schema.number)),
            ("init_image_length", Schema.nullable(Schema.integer)),
            ("created_at", Schema.dateTime), ("started_at", Schema.nullable(Schema.dateTime)),
            ("finished_at", Schema.nullable(Schema.dateTime)),
        ],
        required: ["id", "status", "params", "attempt", "owner_id", "created_at"]
    )

    static func request(batch: Bool) -> JSONValue {
        var fields: [(String, JSONValue)] = [
            ("negative_prompt", Schema.nullable(Schema.string(maxLength: GenerationBounds.negativePrompt))),
            ("width", ["type": "integer", "minimum": 64, "maximum": 4096, "multipleOf": 8]),
            ("height", ["type": "integer", "minimum": 64, "maximum": 4096, "multipleOf": 8]),
            ("steps", Schema.integer(minimum: 1, maximum: 150)),
            ("seed", Schema.nullable(Schema.integer(minimum: 0))),
            ("model", Schema.nullable(Schema.string(minLength: 1, maxLength: GenerationBounds.name))),
            ("cfg_scale", Schema.nullable(["type": "number", "minimum": 0, "maximum": 30])),
            ("loras", Schema.nullable(Schema.array(lora, maxItems: GenerationBounds.loras))),
            (
                "init_image",
                Schema.nullable(
                    Schema.string(
                        maxLength: GenerationBounds.initImageBytes,
                        description: "img2img source: base64 image or data: URI"
                    )
                )
            ),
            ("denoising_strength", Schema.nullable(["type": "number", "minimum": 0, "maximum": 1])),
            ("priority", Schema.integer(minimum: -100, maximum: 100)),
            ("use_enhanced_prompts", Schema.boolean),
        ]
        if batch {
            fields.insert(
                (
                    "prompts",
                    [
                        "type": "array", "minItems": 1, "maxItems": .int(GenerationBounds.batch),
                        "items": ["type": "string", "minLength": 1, "maxLength": .int(GenerationBounds.prompt), "pattern": "\\S"],
                    ]
                ),
                at: 0
            )
            return Schema.object(fields, required: ["prompts"])
        }
        fields.insert(("prompt", ["type": "string", "minLength": 1, "maxLength": .int(GenerationBounds.prompt), "pattern": "\\S"]), at: 0)
        return Schema.object(fields, required: ["prompt"])
    }
}
