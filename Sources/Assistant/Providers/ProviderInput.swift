import Core
import Foundation

/// A provider as `POST /admin/llm/providers` takes it. `name`, `kind`, `base_url`, `api_key`,
/// `models` and `priority` are fixed by ../shared/ARCHITECTURE.md; the rest are ours.
struct ProviderInput: Decodable, BoundedInput {
    var name: String?
    var kind: String?
    var base_url: String?
    var api_key: String?
    var models: [String]?
    var priority: Int?
    var enabled: Bool?
    /// Admins only: whether every account may use it (default: yes for an admin's provider).
    var shared: Bool?
    var timeout_seconds: Int?
    /// The models' context window in tokens; 0: back to ATELIER_ASSISTANT_CONTEXT_TOKENS.
    var context_tokens: Int?

    static let maxName = 48
    static let maxModels = 200

    func checkBounds() throws {
        try Bounded.text(name, field: "name", max: Self.maxName)
        try Bounded.text(kind, field: "kind", max: 16)
        try Bounded.text(base_url, field: "base_url", max: 2048)
        try Bounded.text(api_key, field: "api_key", max: 4096)
        try Bounded.texts(models, field: "models", maxItems: Self.maxModels, maxLength: 200)
    }

    /// Names become part of model ids (`anna-secretary-{name}`): letters, digits, `_`, `.` and `-`.
    static func checkedName(_ name: String) throws -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !name.isEmpty, name.unicodeScalars.allSatisfy(allowed.contains), !name.contains("-secretary") else {
            throw AppError.validation(field: "name", "must be 1 to \(maxName) letters, digits, '.', '_' or '-' (it names the backend in model ids)")
        }
        return name
    }

    static func checkedKind(_ kind: String) throws -> ProviderKind {
        guard let value = ProviderKind(rawValue: kind) else {
            throw AppError.validation(field: "kind", "must be openai (any OpenAI-compatible upstream: vLLM, Ollama, OpenAI, OpenRouter, Gemini)")
        }
        return value
    }

    /// An http(s) URL without credentials, query or fragment; the trailing slash is dropped.
    static func checkedBaseURL(_ text: String) throws -> (String, URL) {
        var text = text.trimmingCharacters(in: .whitespaces)
        while text.hasSuffix("/") { text.removeLast() }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil,
            url.user == nil, url.password == nil, url.query == nil, url.fragment == nil
        else {
            throw AppError.validation(field: "base_url", "must be the upstream's http(s) address ending in /v1, like http://127.0.0.1:8000/v1")
        }
        return (text, url)
    }

    static func checkedModels(_ models: [String]) throws -> [String] {
        var seen = Set<String>()
        for model in models {
            guard !model.trimmingCharacters(in: .whitespaces).isEmpty, !model.contains(where: \.isNewline) else {
                throw AppError.validation(field: "models", "each model id is a non-empty line of text")
            }
        }
        return models.filter { seen.insert($0).inserted }
    }

    static func checkedTimeout(_ seconds: Int) throws -> Int {
        guard (1...600).contains(seconds) else { throw AppError.validation(field: "timeout_seconds", "must be 1 to 600") }
        return seconds
    }

    /// nil for 0 (the installation's default).
    static func checkedContext(_ tokens: Int) throws -> Int? {
        guard tokens != 0 else { return nil }
        guard (1024...10_000_000).contains(tokens) else {
            throw AppError.validation(field: "context_tokens", "must be 1024 to 10000000 tokens, or 0 for the installation's default")
        }
        return tokens
    }

    static func checkedPriority(_ priority: Int) throws -> Int {
        guard (-1_000_000...1_000_000).contains(priority) else { throw AppError.validation(field: "priority", "must be within ±1000000") }
        return priority
    }

    /// The last four characters, so an admin can tell keys apart without seeing one.
    static func hint(_ key: String) -> String? {
        key.count >= 12 ? "…" + key.suffix(4) : nil
    }
}
