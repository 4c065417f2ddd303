import Accounts
import Core
import Foundation
import SQLKit
import Storage

/// Seed 004's TTSPreset: a named voice with its speed and pitch, owned like every resource; the
/// admin panel keeps them for the voices it offers (the speech routes take a voice id and speed).
package struct TTSPreset: Sendable, Equatable, Codable {
    package var id: String
    package var owner_id: String
    package var name: String
    package var voice: String
    /// 100 = normal speed (OpenAI's `speed` × 100).
    package var speed_percent: Int
    /// espeak-ng's pitch 0–99 (nil: the voice's own).
    package var pitch: Int?
    package var created_at: Int64
    package var updated_at: Int64
}

package struct TTSPresetStore: Sendable {
    let database: Database

    package init(database: Database) { self.database = database }

    static let columns = "id, owner_id, name, voice, speed_percent, pitch, created_at, updated_at"

    package func list(scope: OwnerScope) async throws -> [TTSPreset] {
        switch scope {
        case .all:
            return try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM tts_presets ORDER BY name, id").all(decoding: TTSPreset.self)
        case .owner(let owner):
            return try await database.sql.raw(
                "SELECT \(unsafeRaw: Self.columns) FROM tts_presets WHERE owner_id = \(bind: owner) ORDER BY name, id"
            ).all(decoding: TTSPreset.self)
        }
    }

    /// `owner`'s preset called `name` (what /tts and /v1/audio/speech accept as a voice).
    package func find(name: String, owner: String) async throws -> TTSPreset? {
        try await database.sql.raw(
            "SELECT \(unsafeRaw: Self.columns) FROM tts_presets WHERE owner_id = \(bind: owner) AND name = \(bind: name)"
        ).first(decoding: TTSPreset.self)
    }

    package func find(id: String) async throws -> TTSPreset? {
        try await database.sql.raw("SELECT \(unsafeRaw: Self.columns) FROM tts_presets WHERE id = \(bind: id)").first(decoding: TTSPreset.self)
    }

    package func save(_ preset: TTSPreset, isNew: Bool) async throws {
        if try await database.sql.raw(
            "SELECT id FROM tts_presets WHERE owner_id = \(bind: preset.owner_id) AND name = \(bind: preset.name) AND id <> \(bind: preset.id)"
        ).first() != nil {
            throw AppError.conflict("you have a preset named '\(preset.name)' already")
        }
        if isNew {
            try await database.sql.raw(
                """
                INSERT INTO tts_presets (\(unsafeRaw: Self.columns))
                VALUES (\(bind: preset.id), \(bind: preset.owner_id), \(bind: preset.name), \(bind: preset.voice), \(bind: preset.speed_percent),
                    \(bind: preset.pitch), \(bind: preset.created_at), \(bind: preset.updated_at))
                """
            ).run()
        } else {
            try await database.sql.raw(
                """
                UPDATE tts_presets SET name = \(bind: preset.name), voice = \(bind: preset.voice), speed_percent = \(bind: preset.speed_percent),
                    pitch = \(bind: preset.pitch), updated_at = \(bind: preset.updated_at)
                WHERE id = \(bind: preset.id)
                """
            ).run()
        }
    }

    package func delete(id: String) async throws {
        try await database.sql.raw("DELETE FROM tts_presets WHERE id = \(bind: id)").run()
    }
}
