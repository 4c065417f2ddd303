import Core
import Foundation
import Telegram

/// Sends to chats through the bot's `OutboundLimiter`, so no caller can break Telegram's flood
/// limits, and turns Telegram's answers about the chat into what the product needs: a person who
/// blocked the bot is reported once (and skipped by broadcasts), a group that became a supergroup
/// is written to at its new id.
package struct Messenger: Sendable {
    let api: BotAPIClient
    let limiter: OutboundLimiter
    /// Called when Telegram says the person blocked the bot or the chat is gone.
    let unreachable: @Sendable (Int64) async -> Void

    package init(api: BotAPIClient, limiter: OutboundLimiter, unreachable: @escaping @Sendable (Int64) async -> Void) {
        self.api = api
        self.limiter = limiter
        self.unreachable = unreachable
    }

    @discardableResult
    package func send(_ chat: Int64, _ text: String, markup: InlineKeyboardMarkup? = nil) async throws -> Message {
        try await deliver(chat) { target in try await api.sendMessage(chatID: target, text: text, replyMarkup: markup) }
    }

    /// Edits a status message; "not modified" (the same text again) is not an error.
    package func edit(_ chat: Int64, _ messageID: Int64, _ text: String, markup: InlineKeyboardMarkup? = nil) async throws {
        do {
            _ = try await deliver(chat) { target in
                try await api.editMessageText(chatID: target, messageID: messageID, text: text, replyMarkup: markup)
            }
        } catch BotAPIError.refused(400, let description) where description.contains("message is not modified") {
            return
        }
    }

    @discardableResult
    package func photo(_ chat: Int64, _ photo: InputFile, caption: String? = nil, markup: InlineKeyboardMarkup? = nil) async throws -> Message {
        try await deliver(chat) { target in try await api.sendPhoto(chatID: target, photo: photo, caption: caption, replyMarkup: markup) }
    }

    @discardableResult
    package func voice(_ chat: Int64, _ voice: InputFile, caption: String? = nil) async throws -> Message {
        try await deliver(chat) { target in try await api.sendVoice(chatID: target, voice: voice, caption: caption) }
    }

    @discardableResult
    package func album(_ chat: Int64, _ photos: [InputMediaPhoto]) async throws -> [Message] {
        try await deliver(chat) { target in try await api.sendMediaGroup(chatID: target, photos: photos) }
    }

    package func typing(_ chat: Int64, action: String = "typing") async {
        _ = try? await deliver(chat) { target in try await api.sendChatAction(chatID: target, action: action) }
    }

    /// Answers a button press (not a message to the chat, so outside the chat limits).
    package func answer(callback id: String, _ text: String? = nil, alert: Bool = false) async {
        try? await api.answerCallbackQuery(id: id, text: text, showAlert: alert)
    }

    func deliver<Result: Sendable>(_ chat: Int64, _ call: @escaping @Sendable (Int64) async throws -> Result) async throws -> Result {
        do {
            return try await limiter.send(to: chat) { try await call(chat) }
        } catch BotAPIError.migrated(let newChat, _) {
            return try await limiter.send(to: newChat) { try await call(newChat) }
        } catch let error as BotAPIError {
            switch error {
            case .blocked, .chatNotFound: await unreachable(chat)
            default: break
            }
            throw error
        }
    }
}
