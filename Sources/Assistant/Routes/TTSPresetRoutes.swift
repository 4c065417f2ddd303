import Accounts
import Core
import Foundation
import Hummingbird

/// `/admin/tts/presets`: named voices with speed and pitch (admins see all; users and web their
/// own; guests read; another owner's is 404).
package enum TTSPresetRoutes {
    struct Input: Decodable, BoundedInput {
        var name: String?
        var voice: String?
        /// OpenAI's scale: 0.25 to 4.0.
        var speed: Double?
        var pitch: Int?

        func checkBounds() throws {
            try Bounded.text(name, field: "name", max: 64)
            try Bounded.text(voice, field: "voice", max: 64)
        }
    }

    struct PresetResponse: ResponseEncodable {
        var id: String
        var owner_id: String
        var name: String
        var voice: String
        var speed: Double
        var pitch: Int?
        var created_at: Date
        var updated_at: Date

        init(_ preset: TTSPreset) {
            id = preset.id
            owner_id = preset.owner_id
            name = preset.name
            voice = preset.voice
            speed = Double(preset.speed_percent) / 100
            pitch = preset.pitch
            created_at = Timestamp.date(preset.created_at)
            updated_at = Timestamp.date(preset.updated_at)
        }
    }

    struct PresetList: ResponseEncodable {
        var items: [PresetResponse]
    }

    static let schema = Schema.object(
        [
            ("id", Schema.string), ("owner_id", Schema.string), ("name", Schema.string), ("voice", Schema.string), ("speed", Schema.number),
            ("pitch", Schema.nullable(Schema.integer)), ("created_at", Schema.dateTime), ("updated_at", Schema.dateTime),
        ],
        required: ["id", "name", "voice", "speed"]
    )

    static func input(required: Bool) -> JSONValue {
        Schema.object(
            [
                ("name", Schema.string(minLength: 1, maxLength: 64)), ("voice", Schema.string(maxLength: 64)), ("speed", Schema.number),
                ("pitch", Schema.integer(minimum: 0, maximum: 99)),
            ],
            required: required ? ["name", "voice"] : []
        )
    }

    package static func register(on table: RouteTable, store: TTSPresetStore) {
        let tags = ["tts presets"]
        table.schema("TTSPreset", schema)
        let ref = Schema.ref("TTSPreset")

        table.get(
            "/admin/tts/presets",
            OperationDoc(
                "TTS presets (yours; an admin sees all)",
                tags: tags,
                auth: .role(.guest),
                responses: [.init(200, "Presets", schema: Schema.object([("items", Schema.array(ref))]))]
            )
        ) { _, context in
            let principal = try context.require(.guest)
            return PresetList(items: try await store.list(scope: OwnerScope(principal)).map(PresetResponse.init))
        }

        table.post(
            "/admin/tts/presets",
            OperationDoc(
                "Add a preset: `name`, `voice` (GET /v1/voices), `speed` (0.25–4), `pitch` (0–99)",
                tags: tags,
                auth: .writer,
                request: input(required: true),
                responses: [.init(201, "Added", schema: ref)],
                errors: [409]
            )
        ) { request, context in
            let principal = try context.requireWriter()
            let body = try await request.decodeJSON(Input.self, context: context)
            let now = Timestamp.millis(Date())
            var preset = TTSPreset(
                id: ID.make("tts"),
                owner_id: principal.userID,
                name: "",
                voice: "",
                speed_percent: 100,
                pitch: nil,
                created_at: now,
                updated_at: now
            )
            guard body.name != nil else { throw AppError.validation(field: "name", "field required") }
            guard body.voice != nil else { throw AppError.validation(field: "voice", "field required: a voice id from GET /v1/voices") }
            try apply(body, to: &preset)
            try await store.save(preset, isNew: true)
            return JSONResponse(.created, PresetResponse(preset), headers: [.location: context.absolute("/admin/tts/presets/\(preset.id)")])
        }

        table.get(
            "/admin/tts/presets/{id}",
            OperationDoc("One preset", tags: tags, auth: .role(.guest), responses: [.init(200, "Preset", schema: ref)])
        ) { _, context in
            PresetResponse(try await find(store, context, write: false))
        }

        let change = OperationDoc(
            "Change a preset",
            tags: tags,
            auth: .writer,
            request: input(required: false),
            responses: [.init(200, "Changed", schema: ref)],
            errors: [409]
        )
        let update: @Sendable (Request, AppRequestContext) async throws -> PresetResponse = { request, context in
            var preset = try await find(store, context, write: true)
            try apply(try await request.decodeJSON(Input.self, context: context), to: &preset)
            preset.updated_at = Timestamp.millis(Date())
            try await store.save(preset, isNew: false)
            return PresetResponse(preset)
        }
        table.put("/admin/tts/presets/{id}", change, handler: update)
        table.add(.patch, "/admin/tts/presets/{id}", change, handler: update)

        table.delete(
            "/admin/tts/presets/{id}",
            OperationDoc("Remove a preset", tags: tags, auth: .writer, responses: [.init(204, "Removed")])
        ) { _, context in
            let preset = try await find(store, context, write: true)
            try await store.delete(id: preset.id)
            return Response(status: .noContent)
        }
    }

    static func apply(_ body: Input, to preset: inout TTSPreset) throws {
        if let name = body.name?.trimmingCharacters(in: .whitespacesAndNewlines) {
            guard !name.isEmpty else { throw AppError.validation(field: "name", "must not be empty") }
            preset.name = name
        }
        if let voice = body.voice {
            guard VoiceCatalog.find(voice) != nil else {
                throw AppError.validation(field: "voice", "unknown voice '\(voice)'; GET /v1/voices lists them")
            }
            preset.voice = voice
        }
        if let speed = body.speed {
            guard speed.isFinite, (0.25...4).contains(speed) else { throw AppError.validation(field: "speed", "must be 0.25 to 4.0") }
            preset.speed_percent = Int((speed * 100).rounded())
        }
        if let pitch = body.pitch {
            guard (0...99).contains(pitch) else { throw AppError.validation(field: "pitch", "must be 0 to 99") }
            preset.pitch = pitch
        }
    }

    static func find(_ store: TTSPresetStore, _ context: AppRequestContext, write: Bool) async throws -> TTSPreset {
        let principal = write ? try context.requireWriter() : try context.require(.guest)
        let id = try context.parameters.require("id")
        return try OwnerScope(principal).require(try await store.find(id: id), owner: \.owner_id, notFound: "preset \(id) not found")
    }
}
