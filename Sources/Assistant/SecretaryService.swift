import Core
import Foundation
import Logging
import Storage

/// Seed 004's secretary, assembled: the gateway over the providers, personas and their
/// conversations. AtelierApp builds one, registers its routes and runs `services`.
package struct SecretaryService: Sendable {
    package let gateway: ChatGateway
    package let transport: LLMTransport
    package let personas: PersonaStore
    package let secretary: Secretary
    package let speech: SpeechService
    /// Voice messages in and out (Telegram's OGG/Opus).
    package let opus: OpusCodec
    /// Told each whole answer of a persona (the seed's background synthesis).
    package let answerVoice: AnswerVoice

    package init(
        database: Database,
        box: SecretBox,
        transport: LLMTransport,
        speech: SpeechService,
        contextTokens: Int,
        logger: Logger
    ) {
        self.speech = speech
        opus = OpusCodec()
        // The persona's voice says each answer into the cache in the background; /tts or
        // /v1/audio/speech of the same text is then served from the file.
        let answerVoice = AnswerVoice(
            whole: { persona, text in
                guard let voice = VoiceCatalog.find(persona.voice) else { return }
                _ = speech.prewarm(text: String(text.prefix(StreamedAnswer.maxCharacters)), voice: voice)
            },
            streaming: { persona in VoiceCatalog.find(persona.voice).map { SpokenAnswer(speech: speech, voice: $0) } }
        )
        self.answerVoice = answerVoice
        let personas = PersonaStore(database: database)
        let directory = AssistantDirectory(providers: ProviderStore(database: database), personas: personas, box: box, logger: logger)
        let usage = UsageRecorder(database: database, logger: logger)
        gateway = ChatGateway(
            directory: directory,
            health: ProviderHealth(),
            usage: usage,
            limits: UsageLimits(database: database, usage: usage),
            transport: transport,
            logger: logger
        )
        self.transport = transport
        self.personas = personas
        secretary = Secretary(
            gateway: gateway,
            sessions: ChatSessionStore(database: database),
            memory: ConversationMemory(contextTokens: contextTokens, answerTokens: min(1024, contextTokens / 4)),
            answered: answerVoice.whole
        )
    }

    /// For /health: `running` when an enabled provider is not cooling down, `degraded` when all
    /// are, `not configured` without any; and the provider answering first.
    package func llmHealth() -> (state: String, backend: String?) {
        let providers = directory.snapshot.providers.map(\.record).filter(\.enabled).sorted { $0.priority < $1.priority }
        guard !providers.isEmpty else { return ("not configured", nil) }
        let available = providers.filter { gateway.health.isAvailable($0.id) }
        return (available.isEmpty ? "degraded" : "running", (available.first ?? providers[0]).name)
    }

    /// Long-running pieces: the directory's reload loop and the usage writer.
    package var directory: AssistantDirectory { gateway.directory }
    package var usage: UsageRecorder { gateway.usage }
}
