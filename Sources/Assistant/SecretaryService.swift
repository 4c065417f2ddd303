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

    package init(database: Database, box: SecretBox, transport: LLMTransport, contextTokens: Int, logger: Logger) {
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
            memory: ConversationMemory(contextTokens: contextTokens, answerTokens: min(1024, contextTokens / 4))
        )
    }

    /// Long-running pieces: the directory's reload loop and the usage writer.
    package var directory: AssistantDirectory { gateway.directory }
    package var usage: UsageRecorder { gateway.usage }
}
