import Core
import Foundation

/// Which wire protocol a provider speaks. Only OpenAI's today: vLLM, Ollama, OpenAI, OpenRouter
/// and Gemini's OpenAI endpoint all serve it (../shared/ARCHITECTURE.md fixes the name).
package enum ProviderKind: String, Codable, Sendable, CaseIterable {
    case openai
}

/// One LLM upstream as the database keeps it. The API key is sealed (`SecretBox`), answered only
/// as `has_api_key` and its last four characters.
package struct ProviderRecord: Sendable, Equatable {
    package var id: String
    package var ownerID: String
    /// Usable by every account (an admin's provider is the operator's, by default); otherwise
    /// only by its owner.
    package var shared: Bool
    /// Unique; the `{backend}` of `{persona}-secretary-{backend}` model ids.
    package var name: String
    package var kind: ProviderKind
    /// Ends in `/v1` (ARCHITECTURE.md); requests go to `base_url + /chat/completions`.
    package var baseURL: String
    package var sealedKey: String?
    package var keyHint: String?
    /// The upstream's model ids it serves; the first is used for persona models.
    package var models: [String]
    /// Lower first.
    package var priority: Int
    package var enabled: Bool
    /// How long to wait for the response head and the first streamed byte before failing over.
    package var timeoutSeconds: Int
    /// The context window of its models in tokens; nil: the installation's
    /// ATELIER_ASSISTANT_CONTEXT_TOKENS. Conversations are trimmed to it.
    package var contextTokens: Int?
    /// Set by an admin for their own provider: it may reach private addresses when the
    /// installation allows them (ATELIER_ALLOW_PRIVATE_HOSTS). Other accounts' providers reach
    /// public addresses only, checked at every request.
    package var mayReachPrivate = false
    package var createdAt: Int64
    package var updatedAt: Int64

    package init(ownerID: String, shared: Bool, name: String, baseURL: String, models: [String], priority: Int, now: Int64) {
        id = ID.make("llm")
        self.ownerID = ownerID
        self.shared = shared
        self.name = name
        kind = .openai
        self.baseURL = baseURL
        self.models = models
        self.priority = priority
        enabled = true
        timeoutSeconds = 30
        createdAt = now
        updatedAt = now
    }

    /// The model sent upstream when a persona model (`anna-secretary-{name}`) is asked for.
    package var defaultModel: String? { models.first }

    /// Whether `principal` may send requests through it.
    package func usable(by principal: Principal) -> Bool {
        enabled && (shared || principal.isAdmin || principal.userID == ownerID)
    }
}
