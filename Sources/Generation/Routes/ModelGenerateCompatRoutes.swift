import Core
import Foundation
import HTTPTypes
import Hummingbird

/// Seed 003's `POST /generate {"prompt", "model"}`: `model` is a catalog key (seed 003's
/// `AVAILABLE_MODELS`); LoRAs the request names are pulled on the worker's machine first if
/// they are missing (seed 003's automatic LoRA download).
package enum ModelGenerateCompatRoutes {
    struct Body: Decodable {
        var prompt: String?
        var model: String?
        var negative_prompt: String?
        var loras: [LoraRef]?
        var width: Int?
        var height: Int?
        var steps: Int?
        var seed: Int64?
        var cfg_scale: Double?
    }

    struct Accepted: ResponseEncodable {
        var task_id: String
        var id: String
        var status: String
        var model: String?
        var status_url: String
        var message: String
    }

    package static func register(on table: RouteTable, service: GenerationService) {
        table.post(
            "/generate",
            OperationDoc(
                "Seed 003: queue an image for a catalog model (`model` is a key of GET /api/v1/models)",
                tags: ["compat: seed 003"],
                auth: service.authRequired ? .writer : .optional,
                request: Schema.object(
                    [
                        ("prompt", ["type": "string", "minLength": 1, "maxLength": .int(GenerationBounds.prompt), "pattern": "\\S"]),
                        ("model", Schema.string(minLength: 1, maxLength: GenerationBounds.name)),
                        ("negative_prompt", Schema.nullable(Schema.string(maxLength: GenerationBounds.negativePrompt))),
                        ("loras", Schema.nullable(Schema.array(GenerationSchemas.lora, maxItems: GenerationBounds.loras))),
                        ("width", ["type": "integer", "minimum": 64, "maximum": 4096, "multipleOf": 8]),
                        ("height", ["type": "integer", "minimum": 64, "maximum": 4096, "multipleOf": 8]),
                        ("steps", Schema.integer(minimum: 1, maximum: 150)), ("seed", Schema.nullable(Schema.integer(minimum: 0))),
                        ("cfg_scale", Schema.nullable(["type": "number", "minimum": 0, "maximum": 30])),
                    ],
                    required: ["prompt", "model"]
                ),
                parameters: [.header("Idempotency-Key", "Repeat safely: the same key returns the same generation")],
                responses: [
                    .init(
                        202,
                        "Queued",
                        schema: Schema.object(
                            [
                                ("task_id", Schema.string), ("id", Schema.string), ("status", Schema.string),
                                ("model", Schema.nullable(Schema.string)),
                                ("status_url", Schema.string), ("message", Schema.string),
                            ],
                            required: ["task_id", "status"]
                        )
                    )
                ],
                errors: [429]
            )
        ) { request, context in
            let owner = try service.writer(context)
            let body = try await request.decodeJSON(Body.self, context: context)
            guard let prompt = body.prompt else { throw AppError.validation(field: "prompt", "field required") }
            guard let model = body.model else { throw AppError.validation(field: "model", "field required (a key of GET /api/v1/models)") }
            // Checked before the catalog is asked, so the lookup only ever sees a valid name.
            let params = try GenerationParams(
                prompt: prompt,
                negative_prompt: body.negative_prompt,
                width: body.width ?? 1024,
                height: body.height ?? 1024,
                steps: body.steps ?? 30,
                seed: body.seed,
                model: model,
                cfg_scale: body.cfg_scale,
                loras: body.loras
            ).validated()
            if let catalog = service.catalog {
                guard let entry = try await catalog.lookup(model), entry.kind == "checkpoint" else {
                    let known = try await catalog.checkpointKeys()
                    throw AppError.validation(
                        field: "model",
                        "unknown model '\(model)'; "
                            + (known.isEmpty
                                ? "the catalog has no checkpoints yet: pull one (atelier pull) or import models_config.py"
                                : "known: \(known.prefix(30).joined(separator: ", "))")
                    )
                }
            }
            let key = try IdempotencyKey.from(request)
            let job = try await service.enqueue([params], owner: owner, idempotencyKey: key)[0]
            return JSONResponse(
                .accepted,
                Accepted(
                    task_id: job.id,
                    id: job.id,
                    status: job.state.rawValue,
                    model: model,
                    status_url: context.absolute("/api/v1/generations/\(job.id)"),
                    message: "Image generation queued. Follow it at /api/v1/generations/\(job.id)"
                )
            )
        }
    }
}
