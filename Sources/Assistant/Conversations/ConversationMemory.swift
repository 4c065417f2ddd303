import Core
import Foundation

/// What of a conversation fits the model's context: the persona's prompt, then the newest
/// messages whose estimated tokens fit in what is left after room for the answer. The estimate is
/// deliberately generous (a token per three characters, plus a few per message), since
/// tokenizers differ between the upstreams and an over-long request fails outright.
package struct ConversationMemory: Sendable {
    package var contextTokens: Int
    package var answerTokens: Int

    package init(contextTokens: Int = 8192, answerTokens: Int = 1024) {
        self.contextTokens = contextTokens
        self.answerTokens = answerTokens
    }

    package static func estimate(_ text: String) -> Int { text.count / 3 + 4 }

    /// `history` oldest first, the new message last; returns the messages to send. The persona's
    /// prompt (`system`) is counted, not included: the gateway puts it first.
    package func fit(system: String?, history: [ChatMessage], message: String) -> [JSONValue] {
        var budget = contextTokens - answerTokens - Self.estimate(message) - (system.map(Self.estimate) ?? 0)
        var kept: [ChatMessage] = []
        for item in history.reversed() {
            let cost = Self.estimate(item.content)
            if cost > budget { break }
            budget -= cost
            kept.append(item)
        }
        var messages: [JSONValue] = []
        messages += kept.reversed().map { ChatRequest.message($0.role, $0.content) }
        messages.append(ChatRequest.message("user", message))
        return messages
    }
}
