import Core
import Foundation
import Hummingbird

/// `/api/v1/models`: the catalog of models and LoRAs. Every signed-in user reads it; admins edit it.
package enum ModelRoutes {
    struct EntryResponse: ResponseEncodable {
        var id: String
        var key: String
        var name: String
        var kind: String
        var base_model: String?
        var version_name: String?
        var path: String
        var vae_path: String?
        var default_negative: String?
        var default_weight: Double?
        var trigger_words: [String]
        var description: String?
        var civitai_model_id: Int?
        var civitai_version_id: Int?
        var hf_repo: String?
        var hf_revision: String?
        var sha256: String?
        var size_bytes: Int64?
        var status: String
        var created_at: Date
        var updated_at: Date

        /// Paths are shown relative to the models folder (`folders.display`), never as server paths.
        init(_ e: CatalogEntry, folders: ModelFolders) {
            id = e.id
            key = e.key
            name = e.name
            kind = e.kind.rawValue
            base_model = e.baseModel
            version_name = e.versionName
            path = folders.display(e.path)
            vae_path = e.vaePath.map(folders.display)
            default_negative = e.defaultNegative
            default_weight = e.defaultWeight
            trigger_words = e.triggerWords
            description = e.description
            civitai_model_id = e.civitaiModelID
            civitai_version_id = e.civitaiVersionID
            hf_repo = e.hfRepo
            hf_revision = e.hfRevision
            sha256 = e.sha256
            size_bytes = e.sizeBytes
            status = e.status.rawValue
            created_at = Timestamp.date(e.createdAt)
            updated_at = Timestamp.date(e.updatedAt)
        }
    }

    /// Seed 002's `Model` row: id, name, trigger word, status.
    struct Seed002Model: Encodable, Sendable {
        var model_id: String
        var key: String
        var name: String
        var kind: String
        var trigger_word: String?
        var status: String
        /// A trained model's person (Telegram id); null for the catalog's.
        var user_id: Int64?

        init(_ entry: CatalogEntry) {
            model_id = entry.id
            key = entry.key
            name = entry.name
            kind = entry.kind.rawValue
            trigger_word = entry.triggerWords.first
            status = entry.status == .available ? "ready" : "missing"
        }

        init(_ model: TrainedModel) {
            model_id = "\(model.id)"
            key = "own:\(model.id)"
            name = model.name
            kind = "lora"
            trigger_word = model.triggerWord
            status = model.status
            user_id = model.owner
        }
    }

    /// A LoRA a person of the studio trained (seed 002's `Model` row), listed with the catalog's.
    package struct TrainedModel: Sendable {
        package var id: Int64
        /// The person's Telegram id.
        package var owner: Int64
        package var name: String
        package var triggerWord: String
        /// `training`, `ready` or `error`.
        package var status: String

        package init(id: Int64, owner: Int64, name: String, triggerWord: String, status: String) {
            self.id = id
            self.owner = owner
            self.name = name
            self.triggerWord = triggerWord
            self.status = status
        }
    }

    /// Encodes as a bare array, as seed 002's FastAPI handler returns its list.
    struct Seed002Models: ResponseEncodable {
        var items: [Seed002Model]

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(items)
        }
    }

    struct Update: Decodable {
        var name: String?
        var vae_path: String?
        var default_negative: String?
        var default_weight: Double?
        var trigger_words: [String]?
        var description: String?
        var base_model: String?
    }

    static let schema = Schema.object([
        ("id", Schema.string), ("key", Schema.string), ("name", Schema.string),
        ("kind", Schema.string(enum: ModelKind.allCases.map(\.rawValue))), ("base_model", Schema.nullable(Schema.string)),
        ("version_name", Schema.nullable(Schema.string)), ("path", Schema.string), ("vae_path", Schema.nullable(Schema.string)),
        ("default_negative", Schema.nullable(Schema.string)), ("default_weight", Schema.nullable(Schema.number)),
        ("trigger_words", Schema.array(Schema.string)), ("description", Schema.nullable(Schema.string)),
        ("civitai_model_id", Schema.nullable(Schema.integer)), ("civitai_version_id", Schema.nullable(Schema.integer)),
        ("hf_repo", Schema.nullable(Schema.string)), ("hf_revision", Schema.nullable(Schema.string)),
        ("sha256", Schema.nullable(Schema.string)), ("size_bytes", Schema.nullable(Schema.integer)),
        ("status", Schema.string(enum: ["available", "missing"])), ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
    ])

    /// `trained` gives a person's trained models for seed 002's `/api/models?user_id=` (nil: no
    /// studio in this process).
    package static func register(
        on table: RouteTable,
        catalog: CatalogStore,
        folders: ModelFolders,
        trained: (@Sendable (Int64) async throws -> [TrainedModel])? = nil
    ) {
        table.schema("CatalogEntry", schema)
        let tags = ["models"]
        let ref = Schema.ref("CatalogEntry")

        table.get(
            "/api/v1/models",
            OperationDoc(
                "The catalog of models and LoRAs (pulled, imported)",
                tags: tags,
                auth: .role(.guest),
                parameters: PageRequest.parameters + [.query("kind", Schema.string(enum: ModelKind.allCases.map(\.rawValue)), "Only this kind")],
                responses: [.init(200, "A page of entries", schema: Schema.page(of: ref))]
            )
        ) { request, context in
            _ = try context.requirePrincipal()
            let page = try PageRequest(request: request)
            var kind: ModelKind?
            if let text = request.uri.queryParameters["kind"] {
                guard let parsed = ModelKind(rawValue: String(text)) else {
                    throw AppError.validation(field: "kind", "must be one of \(ModelKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                kind = parsed
            }
            return Page(fetched: try await catalog.list(kind: kind, page: page).map { EntryResponse($0, folders: folders) }, request: page, id: \.id)
        }

        table.get(
            "/api/models",
            OperationDoc(
                "Seed 002: the models a generation can name (catalog checkpoints and LoRAs), as a JSON array; with ?user_id= (a Telegram id; an admin or web account's credentials) also that person's trained models",
                tags: ["compat: seed 002"],
                auth: .none,
                parameters: [.query("user_id", Schema.integer, "a studio person's Telegram id: adds their trained models")],
                responses: [
                    .init(
                        200,
                        "Models",
                        schema: Schema.array(
                            Schema.object(
                                [
                                    ("model_id", Schema.string), ("key", Schema.string), ("name", Schema.string), ("kind", Schema.string),
                                    ("trigger_word", Schema.nullable(Schema.string)),
                                    ("status", Schema.string(enum: ["ready", "missing", "training", "error"])),
                                    ("user_id", Schema.nullable(Schema.integer)),
                                ],
                                required: ["model_id", "name", "status"]
                            )
                        )
                    )
                ]
            )
        ) { request, context in
            var personal: [Seed002Model] = []
            if let raw = request.uri.queryParameters["user_id"] {
                _ = try context.require(oneOf: [.admin, .web], "a person's models are for the web front-end's account (role web) or an admin")
                guard let id = Int64(String(raw)) else { throw AppError.validation(field: "user_id", "must be a Telegram user id (a number)") }
                personal = try await trained?(id).map(Seed002Model.init) ?? []
            }
            var entries: [CatalogEntry] = []
            var page = PageRequest(limit: PageRequest.maxLimit)
            while true {
                let batch = try await catalog.list(page: page)
                entries += batch.prefix(page.limit)
                guard batch.count > page.limit, let last = entries.last else { break }
                page.after = last.id
            }
            // People's trained LoRAs (source `replicate-training:`) are listed only as theirs, with ?user_id=.
            let shared = entries.filter { ($0.kind == .checkpoint || $0.kind == .lora) && $0.source?.hasPrefix("replicate-training:") != true }
            return Seed002Models(items: shared.map(Seed002Model.init) + personal)
        }

        table.get(
            "/api/v1/models/{key}",
            OperationDoc(
                "One catalog entry by key",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Entry", schema: ref)]
            )
        ) { _, context in
            _ = try context.requirePrincipal()
            return EntryResponse(try await entry(context, catalog), folders: folders)
        }

        table.put(
            "/api/v1/models/{key}",
            OperationDoc(
                "Change an entry's name, defaults (VAE, negative prompt, weight) or trigger words",
                tags: tags,
                auth: .role(.admin),
                request: Schema.object([
                    ("name", Schema.string(minLength: 1, maxLength: HubBounds.entryName)),
                    ("vae_path", Schema.nullable(Schema.string(maxLength: HubBounds.path))),
                    ("default_negative", Schema.nullable(Schema.string(maxLength: HubBounds.defaultNegative))),
                    ("default_weight", Schema.nullable(["type": "number", "minimum": -5, "maximum": 5])),
                    ("trigger_words", Schema.array(Schema.string(maxLength: HubBounds.triggerWord), maxItems: HubBounds.triggerWords)),
                    ("description", Schema.nullable(Schema.string(maxLength: HubBounds.description))),
                    ("base_model", Schema.nullable(Schema.string(maxLength: HubBounds.baseModel))),
                ]),
                responses: [.init(200, "Updated", schema: ref)]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let body = try await request.decodeJSON(Update.self, context: context)
            var updated = try await entry(context, catalog)
            if let name = body.name {
                guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw AppError.validation(field: "name", "must not be empty") }
                updated.name = name
            }
            if let weight = body.default_weight, !(-5...5).contains(weight) {
                throw AppError.validation(field: "default_weight", "must be between -5 and 5")
            }
            updated.vaePath = body.vae_path ?? updated.vaePath
            updated.defaultNegative = body.default_negative ?? updated.defaultNegative
            updated.defaultWeight = body.default_weight ?? updated.defaultWeight
            updated.triggerWords = body.trigger_words ?? updated.triggerWords
            updated.description = body.description ?? updated.description
            updated.baseModel = body.base_model ?? updated.baseModel
            updated.updatedAt = Timestamp.millis(Date())
            try await catalog.upsert(updated)
            return EntryResponse(updated, folders: folders)
        }

        table.delete(
            "/api/v1/models/{key}",
            OperationDoc(
                "Remove an entry; `?delete_file=true` also deletes the file and its sidecars, only inside the models folder: a file that resolves outside it (symlinks and `..` included) is a 403 and neither the file nor the entry is removed",
                tags: tags,
                auth: .role(.admin),
                parameters: [.query("delete_file", Schema.boolean, "Delete the model file too")],
                responses: [.init(204, "Removed")]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let removed = try await entry(context, catalog)
            // Files first: a refused deletion keeps the entry, so the call did nothing at all.
            if request.uri.queryParameters["delete_file"].map({ $0 == "true" || $0 == "1" }) == true {
                try folders.deleteModel(at: removed.path)
            }
            try await catalog.delete(id: removed.id)
            return Response(status: .noContent)
        }

        table.post(
            "/api/v1/models/import",
            OperationDoc(
                "Import seed 003's AVAILABLE_MODELS / AVAILABLE_LORAS (as JSON)",
                tags: tags + ["compat"],
                auth: .role(.admin),
                request: Schema.object([
                    ("AVAILABLE_MODELS", importMap), ("AVAILABLE_LORAS", importMap),
                ]),
                responses: [
                    .init(
                        200,
                        "What was created and updated",
                        schema: Schema.object([
                            ("created", Schema.array(Schema.string)), ("updated", Schema.array(Schema.string)),
                        ])
                    )
                ],
                errors: [409]
            )
        ) { request, context in
            _ = try context.require(.admin)
            let body = try await request.decodeJSON(CatalogImport.self, context: context)
            return JSONResponse(.ok, try await body.apply(to: catalog))
        }
    }

    /// One map of a seed-003 import, keyed by the name callers use, with `HubBounds`' limits.
    static let importMap: JSONValue = [
        "type": "object", "maxProperties": .int(HubBounds.importEntries),
        "propertyNames": ["maxLength": .int(HubBounds.entryKey)],
        "additionalProperties": Schema.object(
            [
                ("name", Schema.string(maxLength: HubBounds.entryName)), ("path", Schema.string(maxLength: HubBounds.path)),
                ("vae_path", Schema.nullable(Schema.string(maxLength: HubBounds.path))),
                ("default_negative", Schema.nullable(Schema.string(maxLength: HubBounds.defaultNegative))),
                ("default_weight", Schema.nullable(Schema.number)),
                ("trigger_words", Schema.array(Schema.string(maxLength: HubBounds.triggerWord), maxItems: HubBounds.triggerWords)),
                ("description", Schema.nullable(Schema.string(maxLength: HubBounds.description))),
                ("civitai_model_id", Schema.nullable(Schema.integer)), ("civitai_version_id", Schema.nullable(Schema.integer)),
                ("base_model", Schema.nullable(Schema.string(maxLength: HubBounds.baseModel))),
            ],
            required: ["name"]
        ),
    ]

    static func entry(_ context: AppRequestContext, _ catalog: CatalogStore) async throws -> CatalogEntry {
        let key = try context.parameters.require("key")
        guard let entry = try await catalog.find(key: key) else { throw AppError.notFound("model '\(key)' is not in the catalog") }
        return entry
    }
}
