import Core
import Foundation

/// Seed 001's `use_enhanced_prompts`: the `prompt_writer` persona turns a short idea into a full
/// image prompt on the caller's first available provider. Never fails the generation: without a
/// provider, or when the LLM fails, the prompt is kept and the reason returned.
package struct PromptWriter: Sendable {
    package let gateway: ChatGateway
    static let persona = "prompt_writer"
    /// Generation's prompt bound.
    static let maxPrompt = 4000

    package init(gateway: ChatGateway) { self.gateway = gateway }

    /// The enhanced prompt, or the prompt and why it was kept.
    package func enhance(_ prompt: String, for principal: Principal?) async -> (prompt: String, kept: String?) {
        let principal = principal ?? Principal(userID: "guest", username: "guest", role: .guest, method: .jwt)
        let snapshot = gateway.directory.snapshot
        guard snapshot.providers.contains(where: { $0.record.usable(by: principal) && $0.record.defaultModel != nil }) else {
            return (prompt, "no LLM provider is configured")
        }
        guard snapshot.persona(Self.persona) != nil else { return (prompt, "the prompt_writer persona was removed") }
        let request = ChatRequest(model: Self.persona + ModelRoute.secretary, messages: [ChatRequest.message("user", prompt)])
        do {
            let answer = try await gateway.complete(request, for: principal)
            var text = Secretary.content(of: answer.body).trimmingCharacters(in: .whitespacesAndNewlines)
            // Models like to quote their answer or label it.
            for prefix in ["Prompt:", "prompt:"] where text.hasPrefix(prefix) { text = String(text.dropFirst(prefix.count)) }
            text = text.trimmingCharacters(in: CharacterSet(charactersIn: "\"'` \n"))
            guard !text.isEmpty else { return (prompt, "the LLM answered nothing") }
            return (String(text.prefix(Self.maxPrompt)), nil)
        } catch let error as AppError {
            return (prompt, "the LLM failed (\(error.detail))")
        } catch {
            return (prompt, "the LLM failed")
        }
    }
}
