import Accounts
import Core
import Foundation
import HTTPTypes
import Hummingbird

/// Atelier's own generation API and the image files.
package enum GenerationRoutes {
    package static func register(on table: RouteTable, service: GenerationService) {
        table.schema("GenerationParams", GenerationSchemas.params)
        table.schema("Generation", GenerationSchemas.generation)
        let tags = ["generations"]
        let ref = Schema.ref("Generation")
        let auth: OperationDoc.Auth = service.authRequired ? .writer : .optional

        table.post(
            "/api/v1/generations",
            OperationDoc(
                "Queue one image (`prompt`) or a batch (`prompts`); answers 202 with the generation(s)",
                tags: tags,
                auth: auth,
                request: ["anyOf": [GenerationSchemas.request(batch: false), GenerationSchemas.request(batch: true)]],
                parameters: [.header("Idempotency-Key", "Repeat safely: the same key returns the same generation(s)")],
                responses: [.init(202, "Queued", schema: ["oneOf": [ref, Schema.object([("items", Schema.array(ref))], required: ["items"])]])],
                errors: [429]
            )
        ) { request, context in
            let owner = try service.writer(context)
            let body = try await request.decodeJSON(GenerationRequest.self, context: context)
            let key = try IdempotencyKey.from(request)
            if let prompts = body.prompts {
                for (index, prompt) in prompts.enumerated() {
                    do { _ = try body.params(prompt: prompt) } catch let error as AppError where error.field == "prompt" {
                        throw AppError.validation(field: "prompts[\(index)]", "must not be empty")
                    }
                }
                let enhanced = try await service.enhanced(
                    prompts,
                    asked: body.use_enhanced_prompts,
                    principal: context.principal,
                    owner: owner,
                    idempotencyKey: key
                )
                let params = try enhanced.prompts.map { try body.params(prompt: $0) }
                let jobs = try await service.enqueue(params, owner: owner, priority: body.priority ?? 0, idempotencyKey: key)
                return try JSONResponse(
                    .accepted,
                    Items(items: jobs.map { service.response($0, base: context.baseURL) }),
                    headers: Self.noteHeader(enhanced.note)
                ).response(from: request, context: context)
            }
            guard let prompt = body.prompt else { throw AppError.validation(field: "prompt", "field required (or send prompts for a batch)") }
            _ = try body.params(prompt: prompt)
            let enhanced = try await service.enhanced(
                [prompt],
                asked: body.use_enhanced_prompts,
                principal: context.principal,
                owner: owner,
                idempotencyKey: key
            )
            var headers = Self.noteHeader(enhanced.note)
            let jobs = try await service.enqueue(
                [try body.params(prompt: enhanced.prompts[0])],
                owner: owner,
                priority: body.priority ?? 0,
                idempotencyKey: key
            )
            headers[.location] = context.absolute("/api/v1/generations/\(jobs[0].id)")
            return try JSONResponse(.accepted, service.response(jobs[0], base: context.baseURL), headers: headers)
                .response(from: request, context: context)
        }

        table.get(
            "/api/v1/generations",
            OperationDoc(
                "Your generations (admins: all)",
                tags: tags,
                auth: auth,
                parameters: PageRequest.parameters,
                responses: [.init(200, "A page", schema: Schema.page(of: ref))]
            )
        ) { request, context in
            let scope = try scope(context, service)
            let page = try PageRequest(request: request)
            return Page(
                fetched: try await service.store.list(scope: scope, page: page).map { service.response($0, base: context.baseURL) },
                request: page,
                id: \.id
            )
        }

        table.get(
            "/api/v1/generations/{id}",
            OperationDoc(
                "One generation",
                tags: tags,
                auth: auth,
                responses: [.init(200, "Generation", schema: ref)]
            )
        ) { _, context in
            service.response(try await find(context, service, id: try context.parameters.require("id")), base: context.baseURL)
        }

        table.get(
            "/api/v1/generations/{id}/events",
            OperationDoc(
                "Status changes as Server-Sent Events; `done` at the end",
                tags: tags,
                auth: auth,
                responses: [.init(200, "Event stream", contentType: "text/event-stream")]
            )
        ) { _, context in
            let first = try await find(context, service, id: try context.parameters.require("id"))
            return ServerSentEvents.response { events in
                var last: (state: JobState, progress: Double?)?
                var quiet = 0
                while true {
                    let job = try await service.store.find(id: first.id) ?? first
                    let response = service.response(job, base: context.baseURL)
                    // A new state, or progress that moved by a percent or more.
                    let progress = response.progress.map { ($0 * 100).rounded() / 100 }
                    if last.map({ $0.state != job.state || $0.progress != progress }) ?? true {
                        try await events.send(event: job.state.isFinal ? "done" : "status", json: response)
                        last = (job.state, progress)
                        quiet = 0
                    } else {
                        // A comment every 15 s keeps proxies from closing a quiet stream, and is
                        // the write that finds a client gone (which ends this loop).
                        quiet += 1
                        if quiet % 150 == 0 { try await events.keepAlive() }
                    }
                    if job.state.isFinal { return }
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }

        table.delete(
            "/api/v1/generations/{id}",
            OperationDoc(
                "Cancel a pending or running generation",
                tags: tags,
                auth: auth,
                responses: [.init(200, "Cancelled", schema: ref)],
                errors: [409]
            )
        ) { _, context in
            _ = try service.writer(context)
            let job = try await find(context, service, id: try context.parameters.require("id"))
            return service.response(try await service.cancel(job), base: context.baseURL)
        }

        table.get(
            "/images/{file}",
            OperationDoc(
                "An image by its SHA-256 (`/images/HASH.png`)",
                tags: tags,
                auth: .none,
                responses: [.init(200, "PNG", contentType: "image/png")],
                errors: [404]
            )
        ) { request, context in
            let file = try context.parameters.require("file")
            let hash = file.hasSuffix(".png") ? String(file.dropLast(4)) : file
            let query = request.uri.queryParameters
            let check = service.links.check(hash, expires: query["expires"].map(String.init), signature: query["sig"].map(String.init))
            switch check {
            case .valid: break
            case .expired:
                throw AppError(
                    .forbidden,
                    "this image link has expired; ask for a new one (POST /api/v1/generations/{id}/share)",
                    code: "link_expired"
                )
            case .invalid: throw AppError(.forbidden, "this image link's signature is wrong; copy the whole URL", code: "link_invalid")
            case .missing:
                if !service.links.publicImages {
                    try await service.requireImageAccess(hash, context: context)
                }
            }
            guard let data = service.images.get(hash) else { throw AppError.notFound("no image \(file)") }
            let caching = service.links.publicImages && check == .missing ? "public, max-age=31536000, immutable" : "private, max-age=3600"
            return Response(
                status: .ok,
                headers: [.contentType: "image/png", .cacheControl: caching],
                body: .init(byteBuffer: ByteBuffer(data: data))
            )
        }

        table.post(
            "/api/v1/generations/{id}/share",
            OperationDoc(
                "A signed link to the generation's image that works without credentials until it expires",
                tags: tags,
                auth: auth,
                request: Schema.object([("expires_in", Schema.integer(minimum: 60, maximum: 31_536_000))]),
                responses: [
                    .init(
                        200,
                        "Link",
                        schema: Schema.object(
                            [("url", Schema.string), ("expires_at", Schema.dateTime)],
                            required: ["url", "expires_at"]
                        )
                    )
                ],
                errors: [409]
            )
        ) { request, context in
            let job = try await find(context, service, id: try context.parameters.require("id"))
            struct Body: Decodable { var expires_in: Int? }
            // The body is optional: no Content-Type means the default lifetime (a day).
            let body = request.headers[.contentType] == nil ? Body() : try await request.decodeJSON(Body.self, context: context)
            let seconds = body.expires_in ?? 86_400
            guard (60...31_536_000).contains(seconds) else { throw AppError.validation(field: "expires_in", "must be from 60 seconds to 1 year") }
            guard let hash = job.result?.images.first else {
                throw AppError.conflict("generation \(job.id) has no image yet (\(job.state.rawValue))")
            }
            let expires = Int64(Date().timeIntervalSince1970) + Int64(seconds)
            return ShareLink(url: service.links.signed(hash, expires: expires), expires_at: Date(timeIntervalSince1970: TimeInterval(expires)))
        }
    }

    struct ShareLink: ResponseEncodable {
        var url: String
        var expires_at: Date
    }

    struct Items: Encodable, Sendable {
        var items: [GenerationResponse]
    }

    static func scope(_ context: AppRequestContext, _ service: GenerationService) throws -> OwnerScope {
        if let principal = context.principal { return OwnerScope(principal) }
        return .owner(try service.owner(context))
    }

    static func find(_ context: AppRequestContext, _ service: GenerationService, id: String) async throws -> Job {
        let scope = try scope(context, service)
        return try scope.require(try await service.store.find(id: id), owner: \.ownerID, notFound: "generation \(id) not found")
    }

    /// Why `use_enhanced_prompts` kept the prompt as it was, for callers that read headers.
    static func noteHeader(_ note: String?) -> HTTPFields {
        guard let note else { return [:] }
        return [HTTPField.Name("X-Atelier-Note")!: note]
    }
}
