import Assistant
import AsyncHTTPClient
import Core
import Foundation
import Hub
import Logging
import Storage

extension AtelierRuntime {
    /// The secretary with the clients it reaches LLM and speech upstreams through; the runtime
    /// shuts the clients down on close.
    struct AssistantParts {
        var secretary: SecretaryService
        var llmClient: HTTPClient
        var outbounds: [OutboundHTTP]
    }

    /// The gateway times first bytes, silences and whole answers (up to 10 minutes) itself, so its
    /// client has no read timeout. Providers of accounts other than admins reach public addresses
    /// only, checked as each request is sent (a name may point elsewhere by then), whatever
    /// ATELIER_ALLOW_PRIVATE_HOSTS says.
    static func assistant(
        _ config: AppConfig,
        database: Database,
        masterSecret: Secret,
        httpClient: HTTPClient,
        logger: Logger
    ) -> AssistantParts {
        let llmClient = HubHTTP.makeClient(read: nil)
        let llmOutbound = HubHTTP.makeOutbound(client: llmClient, allowPrivate: config.allowPrivateHosts, read: nil)
        let publicOutbound = llmOutbound.publicOnly()
        let secretary = SecretaryService(
            database: database,
            box: SecretBox(masterSecret: masterSecret, purpose: "llm-provider-key"),
            transport: LLMTransport(
                policy: llmOutbound.policy,
                send: { try await llmOutbound.execute($0, timeout: $1, field: "base_url") },
                sendPublic: { try await publicOutbound.execute($0, timeout: $1, field: "base_url") },
                describe: NetworkErrors.describe
            ),
            speech: SpeechService.make(
                ttsURL: config.ttsURL,
                sttURL: config.sttURL,
                key: config.speechAPIKey,
                // The operator set these addresses (a local Whisper server is usual): not checked
                // against private hosts as user-supplied URLs are.
                transport: LLMTransport(
                    policy: AddressPolicy(allowPrivate: true),
                    send: { try await httpClient.execute($0, timeout: $1) },
                    describe: NetworkErrors.describe
                ),
                cacheDirectory: URL(fileURLWithPath: config.dataDir).appendingPathComponent("speech-cache")
            ),
            contextTokens: config.assistantContextTokens,
            logger: logger
        )
        return AssistantParts(secretary: secretary, llmClient: llmClient, outbounds: [llmOutbound, publicOutbound])
    }
}
