import Accounts
import Core
import Foundation
import Hummingbird

/// `/admin/personas`: who the secretary is (name, system prompt, voice, language, default
/// provider). Personas are shared: everyone signed in reads them and talks to them; only admins
/// add, change or remove one. A change reaches the gateway at once in this process and within 2 s
/// in the others.
package enum PersonaRoutes {
    struct Input: Decodable, BoundedInput {
        var name: String?
        var display_name: String?
        var system_prompt: String?
        var voice: String?
        var language: String?
        /// A provider's name; null: the first available by priority.
        var provider: String??

        func checkBounds() throws {
            try Bounded.text(name, field: "name", max: 32)
            try Bounded.text(display_name, field: "display_name", max: 64)
            try Bounded.text(system_prompt, field: "system_prompt", max: maxPrompt)
            try Bounded.text(voice, field: "voice", max: 64)
            try Bounded.text(language, field: "language", max: 8)
            try Bounded.text(provider ?? nil, field: "provider", max: 64)
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decodeIfPresent(String.self, forKey: .name)
            display_name = try container.decodeIfPresent(String.self, forKey: .display_name)
            system_prompt = try container.decodeIfPresent(String.self, forKey: .system_prompt)
            voice = try container.decodeIfPresent(String.self, forKey: .voice)
            language = try container.decodeIfPresent(String.self, forKey: .language)
            // Absent: unchanged; null: back to "the first available".
            provider = container.contains(.provider) ? .some(try container.decodeIfPresent(String.self, forKey: .provider)) : .none
        }

        enum CodingKeys: String, CodingKey {
            case name, display_name, system_prompt, voice, language, provider
        }
    }

    static let maxPrompt = 8000

    struct PersonaResponse: ResponseEncodable {
        var id: String
        var name: String
        var display_name: String
        var system_prompt: String
        var voice: String
        var language: String
        var provider: String?
        var created_at: Date
        var updated_at: Date

        init(_ persona: Persona) {
            id = persona.id
            name = persona.name
            display_name = persona.display_name
            system_prompt = persona.system_prompt
            voice = persona.voice
            language = persona.language
            provider = persona.provider
            created_at = Timestamp.date(persona.created_at)
            updated_at = Timestamp.date(persona.updated_at)
        }
    }

    struct PersonaList: ResponseEncodable {
        var items: [PersonaResponse]
    }

    static let schema = Schema.object(
        [
            ("id", Schema.string), ("name", Schema.string), ("display_name", Schema.string), ("system_prompt", Schema.string),
            ("voice", Schema.string), ("language", Schema.string), ("provider", Schema.nullable(Schema.string)),
            ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
        ],
        required: ["id", "name", "system_prompt", "voice", "language"]
    )

    static func input(required: Bool) -> JSONValue {
        Schema.object(
            [
                ("name", Schema.string(minLength: 1, maxLength: 32, description: "lowercase letters, digits and _; the {persona} of model ids")),
                ("display_name", Schema.string(maxLength: 64)),
                ("system_prompt", Schema.string(minLength: 1, maxLength: maxPrompt)),
                ("voice", Schema.string(maxLength: 64, description: "a voice id from GET /v1/voices")),
                ("language", Schema.string(maxLength: 8, description: "ru or en: the language of its voice and of speech it hears")),
                ("provider", Schema.nullable(Schema.string(maxLength: 64, description: "a provider's name; null: by priority"))),
            ],
            required: required ? ["name", "system_prompt"] : []
        )
    }

    package static func register(on table: RouteTable, store: PersonaStore, directory: AssistantDirectory) {
        let tags = ["personas"]
        table.schema("Persona", schema)
        let ref = Schema.ref("Persona")

        table.get(
            "/admin/personas",
            OperationDoc(
                "The personas (shared: everyone signed in may talk to each)",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Personas", schema: Schema.object([("items", Schema.array(ref))]))]
            )
        ) { _, context in
            _ = try context.require(.guest)
            return PersonaList(items: try await store.all().map(PersonaResponse.init))
        }

        table.post(
            "/admin/personas",
            OperationDoc(
                "Add a persona: `name`, `system_prompt`, `voice` (GET /v1/voices; anna_en by default), `language`, `provider`",
                tags: tags,
                auth: .role(.admin),
                request: input(required: true),
                responses: [.init(201, "Added", schema: ref)],
                errors: [409]
            )
        ) { request, context in
            let principal = try context.require(.admin)
            let body = try await request.decodeJSON(Input.self, context: context)
            guard let name = body.name else { throw AppError.validation(field: "name", "field required: lowercase letters, digits and _") }
            guard body.system_prompt != nil else { throw AppError.validation(field: "system_prompt", "field required: who the persona is") }
            var persona = Persona(
                ownerID: principal.userID,
                name: name,
                displayName: name,
                systemPrompt: "",
                voice: VoiceCatalog.annaEnglish.id,
                language: "en",
                now: Timestamp.millis(Date())
            )
            try checkName(name)
            try apply(body, to: &persona, directory: directory)
            try await store.insert(persona)
            try await directory.reload()
            return JSONResponse(.created, PersonaResponse(persona), headers: [.location: context.absolute("/admin/personas/\(persona.name)")])
        }

        table.get(
            "/admin/personas/{name}",
            OperationDoc("One persona", tags: tags, auth: .role(.guest), responses: [.init(200, "Persona", schema: ref)], errors: [404])
        ) { _, context in
            _ = try context.require(.guest)
            return PersonaResponse(try await find(store, context))
        }

        let change = OperationDoc(
            "Change a persona (its name stays: model ids and conversations use it)",
            tags: tags,
            auth: .role(.admin),
            request: input(required: false),
            responses: [.init(200, "Changed", schema: ref)],
            errors: [404]
        )
        let update: @Sendable (Request, AppRequestContext) async throws -> PersonaResponse = { request, context in
            _ = try context.require(.admin)
            var persona = try await find(store, context)
            let body = try await request.decodeJSON(Input.self, context: context)
            if let name = body.name, name != persona.name {
                throw AppError.validation(field: "name", "a persona keeps its name (model ids and conversations use it); add a new one instead")
            }
            try apply(body, to: &persona, directory: directory)
            persona.updated_at = Timestamp.millis(Date())
            try await store.update(persona)
            try await directory.reload()
            return PersonaResponse(persona)
        }
        table.put("/admin/personas/{name}", change, handler: update)
        table.add(.patch, "/admin/personas/{name}", change, handler: update)

        table.delete(
            "/admin/personas/{name}",
            OperationDoc("Remove a persona", tags: tags, auth: .role(.admin), responses: [.init(204, "Removed")], errors: [404, 409])
        ) { _, context in
            _ = try context.require(.admin)
            let persona = try await find(store, context)
            guard persona.name != PromptWriter.persona else {
                throw AppError.conflict("prompt_writer writes the prompts of use_enhanced_prompts; change its system_prompt instead of removing it")
            }
            try await store.delete(id: persona.id)
            try await directory.reload()
            return Response(status: .noContent)
        }
    }

    static func checkName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 32, name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" })
        else {
            throw AppError.validation(
                field: "name",
                "1 to 32 lowercase letters, digits and _ (it is the {persona} of {persona}-secretary-{provider})"
            )
        }
    }

    static func apply(_ body: Input, to persona: inout Persona, directory: AssistantDirectory) throws {
        if let display = body.display_name?.trimmingCharacters(in: .whitespacesAndNewlines) {
            guard !display.isEmpty else { throw AppError.validation(field: "display_name", "must not be empty") }
            persona.display_name = display
        }
        if let prompt = body.system_prompt {
            guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw AppError.validation(field: "system_prompt", "must not be empty: it says who the persona is")
            }
            persona.system_prompt = prompt
        }
        if let voice = body.voice {
            guard VoiceCatalog.find(voice) != nil else {
                throw AppError.validation(field: "voice", "unknown voice '\(voice)'; GET /v1/voices lists them")
            }
            persona.voice = voice
        }
        if let language = body.language {
            guard ["ru", "en"].contains(language) else { throw AppError.validation(field: "language", "must be ru or en") }
            persona.language = language
        }
        if let provider = body.provider {
            if let provider, directory.snapshot.provider(named: provider) == nil {
                throw AppError.validation(field: "provider", "no provider named '\(provider)'; GET /admin/llm/providers lists them")
            }
            persona.provider = provider
        }
    }

    static func find(_ store: PersonaStore, _ context: AppRequestContext) async throws -> Persona {
        let name = try context.parameters.require("name")
        guard let persona = try await store.find(name: name) else {
            throw AppError.notFound("no persona named '\(name)'; GET /admin/personas lists them")
        }
        return persona
    }
}
