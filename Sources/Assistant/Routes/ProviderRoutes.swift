import Accounts
import AsyncHTTPClient
import Core
import Foundation
import HTTPTypes
import Hummingbird

/// `/admin/llm/providers`: LLM upstreams as rows, with seed 004's owner isolation (admins see
/// all; users and web accounts their own; guests read; another owner's provider is 404). The
/// API key is write-only: answers say `has_api_key` and its last four characters.
package enum ProviderRoutes {
    struct ProviderResponse: ResponseEncodable {
        var id: String
        var owner_id: String
        var name: String
        var kind: String
        var base_url: String
        var models: [String]
        var priority: Int
        var enabled: Bool
        var shared: Bool
        var timeout_seconds: Int
        /// nil: the installation's ATELIER_ASSISTANT_CONTEXT_TOKENS.
        var context_tokens: Int?
        var has_api_key: Bool
        var api_key_hint: String?
        /// Why it is being skipped right now (it failed and is cooling down), if it is.
        var cooling_down: String?
        var created_at: Date
        var updated_at: Date

        init(_ record: ProviderRecord, health: ProviderHealth) {
            id = record.id
            owner_id = record.ownerID
            name = record.name
            kind = record.kind.rawValue
            base_url = record.baseURL
            models = record.models
            priority = record.priority
            enabled = record.enabled
            shared = record.shared
            timeout_seconds = record.timeoutSeconds
            context_tokens = record.contextTokens
            has_api_key = record.sealedKey != nil
            api_key_hint = record.keyHint
            cooling_down = health.snapshot()[record.id]
            created_at = Timestamp.date(record.createdAt)
            updated_at = Timestamp.date(record.updatedAt)
        }
    }

    struct ProviderList: ResponseEncodable {
        var items: [ProviderResponse]
    }

    struct TestResult: ResponseEncodable {
        var ok: Bool
        var models: [String]
        var detail: String
    }

    static let schema = Schema.object(
        [
            ("id", Schema.string), ("owner_id", Schema.string), ("name", Schema.string), ("kind", Schema.string(enum: ["openai"])),
            ("base_url", Schema.string), ("models", Schema.array(Schema.string)), ("priority", Schema.integer), ("enabled", Schema.boolean),
            ("shared", Schema.boolean), ("timeout_seconds", Schema.integer), ("context_tokens", Schema.nullable(Schema.integer)),
            ("has_api_key", Schema.boolean),
            ("api_key_hint", Schema.nullable(Schema.string)), ("cooling_down", Schema.nullable(Schema.string)),
            ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
        ],
        required: ["id", "name", "kind", "base_url", "models", "priority"]
    )

    static func input(required: Bool) -> JSONValue {
        Schema.object(
            [
                ("name", Schema.string(minLength: 1, maxLength: ProviderInput.maxName)), ("kind", Schema.string(enum: ["openai"])),
                ("base_url", Schema.string(maxLength: 2048)), ("api_key", Schema.string(maxLength: 4096)),
                ("models", Schema.array(Schema.string(maxLength: 200), maxItems: ProviderInput.maxModels)), ("priority", Schema.integer),
                ("enabled", Schema.boolean), ("shared", Schema.boolean), ("timeout_seconds", Schema.integer(minimum: 1, maximum: 600)),
                // 0 (the installation's ATELIER_ASSISTANT_CONTEXT_TOKENS) or 1024 and more.
                ("context_tokens", Schema.integer(minimum: 0, maximum: 10_000_000)),
            ],
            required: required ? ["name", "base_url", "models"] : []
        )
    }

    /// Checks the address of a provider's base URL. ATELIER_ALLOW_PRIVATE_HOSTS is for the
    /// operator's LAN upstreams (vLLM, Ollama): only an admin's own provider may point at a private
    /// address (`mayReachPrivate`, also what its requests are sent with), or any account could make
    /// the server call internal services and read the answers.
    static func approve(_ url: URL, _ transport: LLMTransport, mayReachPrivate: Bool) async throws {
        guard transport.policy.allowPrivate, !mayReachPrivate else {
            _ = try await transport.policy.approve(url, field: "base_url")
            return
        }
        do {
            _ = try await transport.policy.refusingPrivate().approve(url, field: "base_url")
        } catch let error as AppError where error.status == .forbidden {
            throw AppError.forbidden(
                "base_url: \(url.host ?? "the host") is a private or reserved address; only an admin's own provider can be on the local network"
            )
        }
    }

    package static func register(on table: RouteTable, gateway: ChatGateway, transport: LLMTransport) {
        let tags = ["llm providers"]
        let directory = gateway.directory
        let store = directory.providers
        let health = gateway.health
        table.schema("LLMProvider", schema)
        let ref = Schema.ref("LLMProvider")

        table.get(
            "/admin/llm/providers",
            OperationDoc(
                "LLM providers (yours; an admin sees all)",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Providers", schema: Schema.object([("items", Schema.array(ref))]))]
            )
        ) { _, context in
            let principal = try context.require(.guest)
            return ProviderList(items: try await store.list(scope: OwnerScope(principal)).map { ProviderResponse($0, health: health) })
        }

        table.post(
            "/admin/llm/providers",
            OperationDoc(
                "Add an OpenAI-compatible upstream: `name`, `kind` (openai), `base_url` (ending in /v1), `api_key` (stored sealed, never shown again), `models` (the upstream's model ids), `priority` (lower first); optional `timeout_seconds`, `context_tokens` (the models' context window, 1024 or more; 0 for ATELIER_ASSISTANT_CONTEXT_TOKENS)",
                tags: tags,
                auth: .writer,
                request: input(required: true),
                responses: [.init(201, "Added", schema: ref)],
                errors: [409]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let body = try await request.decodeJSON(ProviderInput.self, context: context)
            guard let name = body.name else { throw AppError.validation(field: "name", "field required") }
            guard let base = body.base_url else { throw AppError.validation(field: "base_url", "field required") }
            guard let models = body.models else { throw AppError.validation(field: "models", "field required: the upstream's model ids") }
            _ = try ProviderInput.checkedKind(body.kind ?? "openai")
            if body.shared == true, !principal.isAdmin {
                throw AppError.forbidden("only an admin can share a provider with every account")
            }
            let (baseURL, url) = try ProviderInput.checkedBaseURL(base)
            try await Self.approve(url, transport, mayReachPrivate: principal.isAdmin)
            var record = ProviderRecord(
                ownerID: principal.userID,
                shared: body.shared ?? principal.isAdmin,
                name: try ProviderInput.checkedName(name),
                baseURL: baseURL,
                models: try ProviderInput.checkedModels(models),
                priority: try ProviderInput.checkedPriority(body.priority ?? 100),
                now: Timestamp.millis(Date())
            )
            record.mayReachPrivate = principal.isAdmin
            record.enabled = body.enabled ?? true
            if let timeout = body.timeout_seconds { record.timeoutSeconds = try ProviderInput.checkedTimeout(timeout) }
            if let tokens = body.context_tokens { record.contextTokens = try ProviderInput.checkedContext(tokens) }
            if let key = body.api_key, !key.isEmpty {
                record.sealedKey = try directory.seal(key)
                record.keyHint = ProviderInput.hint(key)
            }
            try await store.insert(record)
            try await directory.reload()
            return JSONResponse(
                .created,
                ProviderResponse(record, health: health),
                headers: [.location: context.absolute("/admin/llm/providers/\(record.id)")]
            )
        }

        table.get(
            "/admin/llm/providers/{id}",
            OperationDoc("One provider", tags: tags, auth: .role(.guest), responses: [.init(200, "Provider", schema: ref)])
        ) { _, context in
            ProviderResponse(try await find(store, context, write: false), health: health)
        }

        let change = OperationDoc(
            "Change a provider (any field; an empty api_key removes the key)",
            tags: tags,
            auth: .writer,
            request: input(required: false),
            responses: [.init(200, "Changed", schema: ref)],
            errors: [409]
        )
        let update: @Sendable (Request, AppRequestContext) async throws -> ProviderResponse = { request, context in
            var record = try await find(store, context, write: true)
            let body = try await request.decodeJSON(ProviderInput.self, context: context)
            if let kind = body.kind { _ = try ProviderInput.checkedKind(kind) }
            if let name = body.name { record.name = try ProviderInput.checkedName(name) }
            if let base = body.base_url {
                let (baseURL, url) = try ProviderInput.checkedBaseURL(base)
                // Decided again by who sets the URL: an admin for their own provider.
                let principal = try context.requireWriter()
                record.mayReachPrivate = principal.isAdmin && principal.userID == record.ownerID
                try await Self.approve(url, transport, mayReachPrivate: record.mayReachPrivate)
                record.baseURL = baseURL
            }
            if let models = body.models { record.models = try ProviderInput.checkedModels(models) }
            if let priority = body.priority { record.priority = try ProviderInput.checkedPriority(priority) }
            if let enabled = body.enabled { record.enabled = enabled }
            if let timeout = body.timeout_seconds { record.timeoutSeconds = try ProviderInput.checkedTimeout(timeout) }
            if let tokens = body.context_tokens { record.contextTokens = try ProviderInput.checkedContext(tokens) }
            if let shared = body.shared {
                guard context.principal?.isAdmin == true else {
                    throw AppError.forbidden("only an admin can share a provider with every account")
                }
                record.shared = shared
            }
            if let key = body.api_key {
                record.sealedKey = key.isEmpty ? nil : try directory.seal(key)
                record.keyHint = key.isEmpty ? nil : ProviderInput.hint(key)
            }
            record.updatedAt = Timestamp.millis(Date())
            try await store.update(record)
            // A changed address or key deserves a fresh chance.
            health.succeeded(record.id)
            try await directory.reload()
            return ProviderResponse(record, health: health)
        }
        table.put("/admin/llm/providers/{id}", change, handler: update)
        table.add(.patch, "/admin/llm/providers/{id}", change, handler: update)

        table.delete(
            "/admin/llm/providers/{id}",
            OperationDoc("Remove a provider", tags: tags, auth: .writer, responses: [.init(204, "Removed")])
        ) { _, context in
            let record = try await find(store, context, write: true)
            try await store.delete(id: record.id)
            try await directory.reload()
            return Response(status: .noContent)
        }

        table.post(
            "/admin/llm/providers/{id}/test",
            OperationDoc(
                "Ask the upstream for its models (GET base_url/models with the key, 15 s timeout)",
                tags: tags,
                auth: .writer,
                responses: [
                    .init(
                        200,
                        "Result",
                        schema: Schema.object([("ok", Schema.boolean), ("models", Schema.array(Schema.string)), ("detail", Schema.string)])
                    )
                ]
            )
        ) { _, context in
            let record = try await find(store, context, write: true)
            let key = directory.snapshot.providers.first { $0.record.id == record.id }?.key
            return await test(record, key: key, transport: transport)
        }
    }

    static func test(_ record: ProviderRecord, key: Secret?, transport: LLMTransport) async -> TestResult {
        var request = HTTPClientRequest(url: ChatGateway.endpoint(record.baseURL, "models"))
        if let key { request.headers.add(name: "authorization", value: "Bearer \(key.value)") }
        do {
            let response = try await transport.send(publicOnly: !record.mayReachPrivate)(request, .seconds(15))
            let body = try await response.body.collect(upTo: 8 << 20)
            guard response.status.code == 200 else {
                return TestResult(ok: false, models: [], detail: "\(record.name) answered HTTP \(response.status.code) to GET /models")
            }
            struct List: Decodable {
                struct Item: Decodable { var id: String }
                var data: [Item]
            }
            let models = (try? JSONDecoder().decode(List.self, from: Data(buffer: body)))?.data.map(\.id) ?? []
            let missing = record.models.filter { !models.contains($0) }
            let detail =
                missing.isEmpty
                ? "\(record.name) answers and serves \(models.count) models"
                : "\(record.name) answers, but does not list \(missing.joined(separator: ", "))"
            return TestResult(ok: missing.isEmpty, models: models, detail: detail)
        } catch {
            return TestResult(ok: false, models: [], detail: "\(record.name): \(transport.describe(error))")
        }
    }

    static func find(_ store: ProviderStore, _ context: AppRequestContext, write: Bool) async throws -> ProviderRecord {
        let principal = write ? try context.requireWriter() : try context.require(.guest)
        let id = try context.parameters.require("id")
        return try OwnerScope(principal).require(try await store.find(id: id), owner: \.ownerID, notFound: "provider \(id) not found")
    }
}
