import Core
import Foundation
import HTTPTypes
import Hummingbird

/// The admin API for workers: a backend endpoint, its concurrency and models. Changes take effect
/// at once in the process that runs the worker (it re-reads the table).
package enum WorkerRoutes {
    struct WorkerResponse: ResponseEncodable {
        var id: String
        var name: String
        var backend: String
        var endpoint: String
        var has_token: Bool
        var concurrency: Int
        var models: [String]
        var options: WorkerOptions
        var node_id: String?
        var enabled: Bool
        var loaded_model: String?
        var running: Bool
        var last_error: String?
        var created_at: Date
        var updated_at: Date

        init(_ worker: GPUWorker) {
            id = worker.id
            name = worker.name
            backend = worker.backend.rawValue
            endpoint = worker.endpoint
            has_token = worker.sealedToken != nil
            concurrency = worker.concurrency
            models = worker.models
            options = worker.options
            node_id = worker.nodeID
            enabled = worker.enabled
            loaded_model = worker.loadedModel
            running = worker.leaseHolder != nil && (worker.leaseExpiresAt ?? 0) > Timestamp.millis(Date())
            last_error = worker.lastError
            created_at = Timestamp.date(worker.createdAt)
            updated_at = Timestamp.date(worker.updatedAt)
        }
    }

    struct WorkerList: ResponseEncodable {
        var items: [WorkerResponse]
    }

    struct CheckResponse: ResponseEncodable {
        var ok: Bool
        var backend: String
        var detail: String
    }

    static let schema = Schema.object(
        [
            ("id", Schema.string), ("name", Schema.string), ("backend", Schema.string(enum: BackendKind.allCases.map(\.rawValue))),
            ("endpoint", Schema.string), ("has_token", Schema.boolean), ("concurrency", Schema.integer),
            ("models", Schema.array(Schema.string)), ("options", optionsSchema), ("node_id", Schema.nullable(Schema.string)),
            ("enabled", Schema.boolean), ("loaded_model", Schema.nullable(Schema.string)), ("running", Schema.boolean),
            ("last_error", Schema.nullable(Schema.string)), ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
        ],
        required: ["id", "name", "backend", "endpoint", "concurrency", "models", "enabled"]
    )

    static func input(required: Bool) -> JSONValue {
        Schema.object(
            [
                ("name", Schema.string(minLength: 1, maxLength: GenerationBounds.workerName)),
                ("backend", Schema.string(enum: BackendKind.allCases.map(\.rawValue))),
                ("endpoint", Schema.string(maxLength: GenerationBounds.endpoint)), ("token", Schema.string(maxLength: GenerationBounds.token)),
                ("concurrency", Schema.integer(minimum: 1, maximum: 256)),
                ("models", Schema.array(Schema.string(minLength: 1, maxLength: GenerationBounds.name), maxItems: GenerationBounds.workerModels)),
                ("options", optionsSchema), ("node_id", Schema.nullable(Schema.string(maxLength: GenerationBounds.nodeID))),
                ("enabled", Schema.boolean),
            ],
            required: required ? ["name", "backend"] : []
        )
    }

    /// `WorkerOptions`, each field with the backends it applies to, so /docs shows what can be set.
    static let optionsSchema: JSONValue = Schema.object([
        ("delay_ms", described(Schema.integer(minimum: 0, maximum: 600_000), "mock: how long an image takes (default ATELIER_MOCK_DELAY_MS)")),
        ("poll_ms", described(Schema.integer(minimum: 10, maximum: 60_000), "a1111, comfyui, runpod, replicate: how often to ask for status")),
        (
            "timeout_seconds",
            described(
                Schema.integer(minimum: 1, maximum: 86_400),
                "remote backends: how long one image may take before the attempt is given up (default 1800)"
            )
        ),
        (
            "workflow",
            described(
                ["type": "object"],
                "comfyui (at most 1 MiB of JSON): text-to-image workflow in API format (Save (API)), with {{prompt}}, {{negative}}, {{checkpoint}}, {{seed}}, {{steps}}, {{width}}, {{height}}, {{cfg}}, {{denoise}} placeholders"
            )
        ),
        (
            "img2img_workflow",
            described(
                ["type": "object"],
                "comfyui (at most 1 MiB of JSON): image-to-image workflow; a LoadImage node's image must be \"{{init_image}}\""
            )
        ),
        (
            "default_checkpoint",
            described(
                Schema.string(maxLength: GenerationBounds.optionText),
                "comfyui: the checkpoint used when a job names none (default: the worker's first model)"
            )
        ),
        ("model", described(Schema.string(maxLength: GenerationBounds.optionText), "replicate: owner/name of an official model")),
        ("version", described(Schema.string(maxLength: GenerationBounds.optionText), "replicate: a model version hash")),
    ])

    static func described(_ schema: JSONValue, _ text: String) -> JSONValue {
        guard case .object(var pairs) = schema else { return schema }
        pairs.append(("description", .string(text)))
        return .object(pairs)
    }

    package static func register(on table: RouteTable, service: GenerationService, box: SecretBox) {
        let tags = ["workers"]
        let pool = service.pool
        let store = pool.workers
        table.schema("Worker", schema)
        let ref = Schema.ref("Worker")

        table.get(
            "/api/v1/workers",
            OperationDoc(
                "Workers (GPU backends) and what each has loaded",
                tags: tags,
                auth: .role(.admin),
                responses: [.init(200, "Workers", schema: Schema.object([("items", Schema.array(ref))]))]
            )
        ) { _, context in
            _ = try context.require(.admin)
            return WorkerList(items: try await store.all().map { WorkerResponse($0) })
        }

        table.post(
            "/api/v1/workers",
            OperationDoc(
                "Add a worker: `mock`, `a1111` (base URL), `comfyui` (base URL, optional workflow), `runpod` (endpoint id) or `replicate` (options.model)",
                tags: tags,
                auth: .role(.admin),
                request: input(required: true),
                responses: [.init(201, "Added", schema: ref)],
                errors: [409]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let body = try await request.decodeJSON(WorkerInput.self, context: context)
            guard let name = body.name else { throw AppError.validation(field: "name", "field required") }
            guard let kindName = body.backend else { throw AppError.validation(field: "backend", "field required") }
            guard let kind = BackendKind(rawValue: kindName) else {
                throw AppError.validation(field: "backend", "must be one of \(BackendKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var worker = GPUWorker(
                name: name,
                backend: kind,
                endpoint: kind == .mock ? "mock:" : (kind == .replicate ? BackendFactory.replicateURL : ""),
                concurrency: kind == .a1111 ? 1 : (kind == .mock ? 4 : 2),
                now: Timestamp.millis(Date())
            )
            try body.apply(to: &worker, box: box)
            try await pool.factory.checkEndpoint(worker)
            try await store.insert(worker)
            await pool.reload()
            return JSONResponse(.created, WorkerResponse(worker), headers: [.location: context.absolute("/api/v1/workers/\(worker.id)")])
        }

        table.get(
            "/api/v1/workers/{id}",
            OperationDoc(
                "One worker",
                tags: tags,
                auth: .role(.admin),
                responses: [.init(200, "Worker", schema: ref)]
            )
        ) { _, context in
            _ = try context.require(.admin)
            return WorkerResponse(try await find(store, context))
        }

        table.add(
            .patch,
            "/api/v1/workers/{id}",
            OperationDoc(
                "Change a worker (any field; `enabled: false` stops it after its running jobs go back to the queue)",
                tags: tags,
                auth: .role(.admin),
                request: input(required: false),
                responses: [.init(200, "Changed", schema: ref)],
                errors: [409]
            )
        ) { request, context in
            _ = try context.require(.admin)
            var worker = try await find(store, context)
            let body = try await request.decodeJSON(WorkerInput.self, context: context)
            if let kind = body.backend, kind != worker.backend.rawValue {
                throw AppError.validation(field: "backend", "cannot change; delete the worker and add a new one")
            }
            if let name = body.name, name != worker.name, try await store.find(name) != nil {
                throw AppError.conflict("a worker named '\(name)' exists already")
            }
            try body.apply(to: &worker, box: box)
            if body.endpoint != nil { try await pool.factory.checkEndpoint(worker) }
            let now = Timestamp.millis(Date())
            try await store.update(worker, now: now)
            worker.updatedAt = now
            await pool.reload()
            return WorkerResponse(worker)
        }

        table.delete(
            "/api/v1/workers/{id}",
            OperationDoc(
                "Remove a worker (its running jobs go back to the queue)",
                tags: tags,
                auth: .role(.admin),
                responses: [.init(204, "Removed")]
            )
        ) { _, context in
            _ = try context.require(.admin)
            let worker = try await find(store, context)
            try await store.delete(id: worker.id)
            await pool.reload()
            return Response(status: .noContent)
        }

        table.post(
            "/api/v1/workers/{id}/check",
            OperationDoc(
                "Ask the worker's backend whether it answers (10 s timeout)",
                tags: tags,
                auth: .role(.admin),
                responses: [
                    .init(200, "Result", schema: Schema.object([("ok", Schema.boolean), ("backend", Schema.string), ("detail", Schema.string)]))
                ]
            )
        ) { _, context in
            _ = try context.require(.admin)
            let worker = try await find(store, context)
            let backend = try pool.factory.make(worker)
            do {
                try await backend.check()
                return CheckResponse(ok: true, backend: backend.name, detail: "reachable")
            } catch {
                return CheckResponse(ok: false, backend: backend.name, detail: "\(error)")
            }
        }
    }

    static func find(_ store: WorkerStore, _ context: AppRequestContext) async throws -> GPUWorker {
        let id = try context.parameters.require("id")
        guard let worker = try await store.find(id) else { throw AppError.notFound("worker \(id) not found") }
        return worker
    }
}
