import Accounts
import Assistant
import Bots
import Core
import Foundation
import Generation

/// Seed 001's `use_enhanced_prompts` through the secretary's prompt writer.
struct SecretaryPromptEnhancer: PromptEnhancer {
    let writer: PromptWriter

    func enhance(_ prompt: String, for principal: Principal?) async -> PromptEnhancement {
        let result = await writer.enhance(prompt, for: principal)
        return PromptEnhancement(prompt: result.prompt, kept: result.kept)
    }
}

/// The assistant bot's way to the secretary: a conversation per chat kept for the bot's owner
/// (whose providers and limits apply), speech in and out as Telegram's OGG/Opus.
struct SecretaryAssistantPort: AssistantPort {
    let service: SecretaryService
    let users: UserStore

    func principal(_ owner: String) async throws -> Principal {
        guard let user = try await users.find(id: owner), !user.disabled else {
            throw AppError.forbidden("the owner of this bot is disabled or gone; an admin gives the bot a new owner")
        }
        return Principal(userID: user.id, username: user.username, role: user.role, method: .jwt)
    }

    func reply(_ text: String, persona: String?, conversation: String, owner: String) async throws -> String {
        let principal = try await principal(owner)
        let persona = try service.secretary.persona(persona)
        let session = try await service.secretary.sessions.current(
            owner: owner,
            persona: persona.name,
            source: conversation,
            now: Timestamp.millis(Date())
        )
        return try await service.secretary.reply(text, in: session, as: principal)
    }

    func forget(conversation: String, owner: String) async throws {
        _ = try await service.secretary.sessions.clear(owner: owner, source: conversation, persona: nil)
    }

    func hears(language: String?) -> Bool {
        !(service.speech.recognizer is PocketsphinxRecognizer) || PocketsphinxRecognizer.isEnglish(language)
    }

    func transcribe(voice: Data, language: String?) async throws -> String {
        guard hears(language: language) else { throw VoiceLanguageUnheard(language: language ?? "") }
        let audio = try await service.opus.decode(voice)
        return try await service.speech.transcribe(data: audio.wavData(), language: language, phrases: []).text
    }

    func speak(_ text: String, persona: String?) async throws -> Data? {
        guard service.opus.isAvailable else { return nil }
        let persona = try service.secretary.persona(persona)
        let voice = VoiceCatalog.find(persona.voice) ?? VoiceCatalog.standard
        // Telegram shows up to an hour of voice; a long answer is spoken up to a sane length.
        let spoken = String(text.prefix(2000))
        let wav = try await service.speech.synthesize(text: spoken, voice: voice, speed: nil, field: "text").wav
        return try await service.opus.encode(try WAVAudio.parse(wav, limits: AudioLimits()))
    }
}
