import Core
import Foundation
import Telegram

/// Button presses: buy a package, page the history, choose a style, cancel a generation.
extension StudioBot {
    func pressed(_ callback: CallbackQuery, _ bot: BotContext) async throws {
        let texts = StudioTexts(StudioLanguage(code: callback.from.language_code))
        let data = callback.data ?? ""
        guard let chat = callback.message?.chat.id, let user = try await users.find(callback.from.id) else {
            return await bot.messenger.answer(callback: callback.id, texts.notRegistered, alert: true)
        }
        if user.blocked { return await bot.messenger.answer(callback: callback.id, texts.blocked, alert: true) }
        let parts = data.split(separator: ":", maxSplits: 2).map(String.init)
        switch parts.first {
        case "buy" where parts.count == 3:
            await bot.messenger.answer(callback: callback.id)
            try await buy(parts[1], packageID: parts[2], user: user, chat: chat, texts: texts, bot)
        case "hist" where parts.count == 2:
            await bot.messenger.answer(callback: callback.id)
            try await history(user: user, offset: max(0, Int(parts[1]) ?? 0), chat: chat, texts: texts, bot)
        case "st" where parts.count >= 2:
            let token = parts.dropFirst().joined(separator: ":")
            if let title = try await chooseStyle(token, user: user, chat: chat, texts: texts, bot) {
                await bot.messenger.answer(callback: callback.id, texts.styleChosen(title))
            } else {
                await bot.messenger.answer(callback: callback.id, texts.packageGone, alert: true)
            }
        case "cx" where parts.count == 2:
            let cancelled = try await Int64(parts[1]).asyncMap { try await cancelGeneration($0, user: user.user_id, bot) } ?? false
            await bot.messenger.answer(callback: callback.id, cancelled ? nil : texts.oops)
        default:
            await bot.messenger.answer(callback: callback.id)
        }
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
