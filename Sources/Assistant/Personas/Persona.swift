import Core
import Foundation

/// A secretary: who answers (system prompt), in which voice, and through which provider by
/// default. `name` is the `{persona}` of `{persona}-secretary-{backend}`.
package struct Persona: Sendable, Equatable, Codable {
    package var id: String
    package var owner_id: String
    package var name: String
    package var display_name: String
    package var system_prompt: String
    package var voice: String
    package var language: String
    /// A provider name; nil: the first available by priority.
    package var provider: String?
    package var created_at: Int64
    package var updated_at: Int64

    package init(ownerID: String, name: String, displayName: String, systemPrompt: String, voice: String, language: String, now: Int64) {
        id = ID.make("per")
        owner_id = ownerID
        self.name = name
        display_name = displayName
        system_prompt = systemPrompt
        self.voice = voice
        self.language = language
        created_at = now
        updated_at = now
    }
}
