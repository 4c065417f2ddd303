import Core
import Foundation
import HTTPTypes
import Hummingbird

/// Seed 001's RunPod endpoints with their documented shapes, on Atelier's queue.
package enum RunPodCompatRoutes {
    /// Written by hand (see `WrittenJSON`), keys in the order `JSONEncoder` sorted them.
    struct Started: ResponseGenerator {
        var task_id: String
        var status: String
        /// Why `use_enhanced_prompts` left the prompt as it was, added to the message.
        var note: String? = nil
        static let message = "Image generation started. Use /status/{task_id} to check progress."

        func response(from request: Request, context: some RequestContext) throws -> Response {
            var json = JSONObjectWriter(capacity: 160)
            json.field("message", note.map { Self.message + " Note: " + $0 + "." } ?? Self.message)
            json.field("status", status)
            json.field("task_id", task_id)
            return try WrittenJSON(json.text()).response(from: request, context: context)
        }
    }

    struct BatchStarted: ResponseGenerator {
        var task_ids: [String]
        var status = "pending"
        var note: String? = nil
        static let message = "Batch generation started. Use /status/{task_id} to check each task."

        func response(from request: Request, context: some RequestContext) throws -> Response {
            var json = JSONObjectWriter(capacity: 160 + 32 * task_ids.count)
            json.field("count", task_ids.count)
            json.field("message", note.map { Self.message + " Note: " + $0 + "." } ?? Self.message)
            json.field("status", status)
            json.field("task_ids", strings: task_ids)
            return try WrittenJSON(json.text()).response(from: request, context: context)
        }
    }

    struct Status: ResponseEncodable {
        struct Result: Encodable {
            var success = true
            var image_url: String
            var prompt: String
            var width: Int
            var height: Int
            var steps: Int
            var seed: Int64
        }

        var task_id: String
        var status: String
        var result: Result?
        var error: String?

        /// `base` makes `image_url` absolute, as in seed 001's example.
        init(_ job: Job, links: ImageLinks, base: String?) {
            task_id = job.id
            status = job.state.rawValue
            result = job.result.flatMap { result in
                result.images.first.map {
                    Result(
                        image_url: (base ?? "") + links.url($0),
                        prompt: job.params.prompt,
                        width: result.width,
                        height: result.height,
                        steps: job.params.steps,
                        seed: result.seed
                    )
                }
            }
            error = job.state == .failed ? job.error : nil
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(task_id, forKey: .task_id)
            try c.encode(status, forKey: .status)
            try c.encode(result, forKey: .result)
            try c.encodeIfPresent(error, forKey: .error)
        }

        enum CodingKeys: String, CodingKey { case task_id, status, result, error }
    }

    struct Cancelled: ResponseEncodable {
        var task_id: String
        var status: String
        var message: String
    }

    struct Stats: ResponseEncodable {
        var active_tasks: Int
        var reserved_tasks: Int
        var scheduled_tasks: Int
        var workers: [String]
    }

    struct TestResult: ResponseEncodable {
        var success: Bool
        var backend: String
        var message: String
    }

    package static func register(on table: RouteTable, service: GenerationService) {
        let tags = ["seed-001", "compat"]
        let auth: OperationDoc.Auth = service.authRequired ? .writer : .optional
        let started = Schema.object(
            [("task_id", Schema.string), ("status", Schema.string), ("message", Schema.string)],
            required: ["task_id", "status", "message"]
        )

        table.post(
            "/api/v1/runpod/generate",
            OperationDoc(
                "Start one generation",
                tags: tags,
                auth: auth,
                request: GenerationSchemas.request(batch: false),
                responses: [.init(200, "Started", schema: started)],
                errors: [429]
            )
        ) { request, context in
            let owner = try service.writer(context)
            let body = try await request.decodeJSON(GenerationRequest.self, context: context)
            guard let prompt = body.prompt else { throw AppError.validation(field: "prompt", "field required") }
            _ = try body.params(prompt: prompt)  // bad input is refused before any LLM call
            let key = try IdempotencyKey.from(request)
            let enhanced = try await service.enhanced(
                [prompt],
                asked: body.use_enhanced_prompts,
                principal: context.principal,
                owner: owner,
                idempotencyKey: key
            )
            let job = try await service.enqueue([try body.params(prompt: enhanced.prompts[0])], owner: owner, idempotencyKey: key)[0]
            return Started(task_id: job.id, status: job.state.rawValue, note: enhanced.note)
        }

        table.post(
            "/api/v1/runpod/generate/batch",
            OperationDoc(
                "Start one generation per prompt",
                tags: tags,
                auth: auth,
                request: GenerationSchemas.request(batch: true),
                responses: [
                    .init(
                        200,
                        "Started",
                        schema: Schema.object([
                            ("task_ids", Schema.array(Schema.string)), ("status", Schema.string), ("count", Schema.integer),
                            ("message", Schema.string),
                        ])
                    )
                ],
                errors: [429]
            )
        ) { request, context in
            let owner = try service.writer(context)
            let body = try await request.decodeJSON(GenerationRequest.self, context: context)
            guard let prompts = body.prompts else { throw AppError.validation(field: "prompts", "field required") }
            for (index, prompt) in prompts.enumerated() {
                do { _ = try body.params(prompt: prompt) } catch let error as AppError where error.field == "prompt" {
                    throw AppError.validation(field: "prompts[\(index)]", "must not be empty")
                }
            }
            let key = try IdempotencyKey.from(request)
            let enhanced = try await service.enhanced(
                prompts,
                asked: body.use_enhanced_prompts,
                principal: context.principal,
                owner: owner,
                idempotencyKey: key
            )
            let params = try enhanced.prompts.map { try body.params(prompt: $0) }
            let jobs = try await service.enqueue(params, owner: owner, idempotencyKey: key)
            return BatchStarted(task_ids: jobs.map(\.id), note: enhanced.note)
        }

        table.get(
            "/api/v1/runpod/status/{task_id}",
            OperationDoc(
                "Status of a generation; `result.image_url` when it succeeded",
                tags: tags,
                auth: auth,
                responses: [
                    .init(
                        200,
                        "Status",
                        schema: Schema.object(
                            [
                                ("task_id", Schema.string), ("status", Schema.string(enum: JobState.allCases.map(\.rawValue))),
                                (
                                    "result",
                                    Schema.nullable(
                                        Schema.object([
                                            ("success", Schema.boolean), ("image_url", Schema.string), ("prompt", Schema.string),
                                            ("width", Schema.integer),
                                            ("height", Schema.integer), ("steps", Schema.integer), ("seed", Schema.integer),
                                        ])
                                    )
                                ),
                                ("error", Schema.string),
                            ],
                            required: ["task_id", "status", "result"]
                        )
                    )
                ]
            )
        ) { _, context in
            Status(
                try await GenerationRoutes.find(context, service, id: try context.parameters.require("task_id")),
                links: service.links,
                base: context.baseURL
            )
        }

        table.delete(
            "/api/v1/runpod/cancel/{task_id}",
            OperationDoc(
                "Cancel a generation",
                tags: tags,
                auth: auth,
                responses: [.init(200, "Cancelled", schema: started)],
                errors: [409]
            )
        ) { _, context in
            _ = try service.writer(context)
            let job = try await GenerationRoutes.find(context, service, id: try context.parameters.require("task_id"))
            let cancelled = try await service.cancel(job)
            return Cancelled(task_id: cancelled.id, status: cancelled.state.rawValue, message: "Task cancelled")
        }

        table.post(
            "/api/v1/runpod/test",
            OperationDoc(
                "Check that a generation backend answers: the first enabled worker (one running in any process first)",
                tags: tags,
                auth: auth,
                responses: [
                    .init(
                        200,
                        "Result",
                        schema: Schema.object([("success", Schema.boolean), ("backend", Schema.string), ("message", Schema.string)])
                    )
                ]
            )
        ) { _, context in
            _ = try service.owner(context)
            // From the workers table, not this process's runners: with several processes on one
            // database the worker may run in another one.
            guard let worker = try await service.pool.enabledWorkers(now: Timestamp.millis(Date())).first else {
                return TestResult(success: false, backend: "none", message: "no worker is enabled; add one with POST /api/v1/workers")
            }
            let name = "\(worker.backend.rawValue)@\(worker.name)"
            do {
                try await service.pool.backend(for: worker).check()
                return TestResult(success: true, backend: name, message: "backend is reachable")
            } catch {
                return TestResult(success: false, backend: name, message: "\(error)")
            }
        }

        table.get(
            "/api/v1/runpod/queue/stats",
            OperationDoc(
                "Running, waiting and scheduled (retry) generations, and every enabled worker (whichever process runs it)",
                tags: tags,
                auth: auth,
                responses: [
                    .init(
                        200,
                        "Stats",
                        schema: Schema.object(
                            [
                                ("active_tasks", Schema.integer), ("reserved_tasks", Schema.integer), ("scheduled_tasks", Schema.integer),
                                ("workers", Schema.array(Schema.string)),
                            ],
                            required: ["active_tasks", "reserved_tasks", "scheduled_tasks", "workers"]
                        )
                    )
                ]
            )
        ) { _, context in
            _ = try service.owner(context)
            let stats = try await service.store.stats(now: Timestamp.millis(Date()))
            let workers = try await service.pool.enabledWorkers(now: Timestamp.millis(Date()))
            return Stats(
                active_tasks: stats.started,
                reserved_tasks: stats.pending,
                scheduled_tasks: stats.scheduled,
                workers: workers.map { "\($0.backend.rawValue)@\($0.name)" }
            )
        }
    }
}
