import Foundation

/// What the assistant bot needs from seed 004's secretary, wired in AtelierApp (Bots does not
/// import Assistant): a persona's answer in a remembered conversation, and speech both ways in
/// Telegram's voice format (OGG/Opus).
package protocol AssistantPort: Sendable {
    /// The persona's answer to `text` in the conversation `conversation`, kept for `owner` (the
    /// bot's owner, whose providers and limits apply).
    func reply(_ text: String, persona: String?, conversation: String, owner: String) async throws -> String
    /// Forgets the conversation (the bot's /reset).
    func forget(conversation: String, owner: String) async throws
    /// A voice message (OGG/Opus) as text. `language`: the speaker's (Telegram's language_code),
    /// nil when unknown. Throws `VoiceLanguageUnheard` when the recognizer cannot hear it.
    func transcribe(voice: Data, language: String?) async throws -> String
    /// Whether `transcribe` can hear `language` (nil: unknown, which the recognizer guesses).
    func hears(language: String?) -> Bool
    /// `text` spoken in the persona's voice as a voice message (OGG/Opus); nil when speech is off.
    func speak(_ text: String, persona: String?) async throws -> Data?
}

/// The speech recognizer in use does not hear this language (the embedded one hears English only;
/// ATELIER_STT_URL adds others). The bot asks the person to write instead.
package struct VoiceLanguageUnheard: Error, Sendable {
    package var language: String
    package init(language: String) { self.language = language }
}
