import Core
import Foundation
import Telegram

/// Seed 004's assistant bot: the bot's persona answers each message in a conversation kept per
/// chat; a voice message is heard (STT), answered, and the answer comes back as a voice message
/// with its text. /start greets, /reset forgets.
package struct AssistantBot: BotBehavior {
    let assistant: any AssistantPort
    /// Telegram lets bots download files up to 20 MB; a voice message of minutes is far less.
    static let maxVoiceBytes = 20 << 20
    static let maxVoiceSeconds = 300

    package init(assistant: any AssistantPort) { self.assistant = assistant }

    package func prepare(_ bot: BotContext) async throws {
        try await bot.api.setMyCommands([
            BotCommand("start", "Start / Начать"),
            BotCommand("reset", "Forget the conversation / Забыть разговор"),
        ])
    }

    package func handle(_ update: Update, _ bot: BotContext) async {
        guard let message = update.message, let user = message.from else { return }
        let chat = message.chat.id
        let russian = user.language_code?.hasPrefix("ru") ?? true
        let conversation = "telegram:\(bot.record.id):\(chat)"
        do {
            if let text = message.text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty {
                if text == "/start" || text.hasPrefix("/start ") {
                    try await bot.messenger.send(
                        chat,
                        russian ? "Здравствуйте! Напишите или скажите, чем я могу помочь." : "Hello! Write or say how I can help."
                    )
                    return
                }
                if text == "/reset" {
                    try await assistant.forget(conversation: conversation, owner: bot.record.ownerID)
                    try await bot.messenger.send(chat, russian ? "Контекст сброшен" : "The conversation is forgotten")
                    return
                }
                await bot.messenger.typing(chat)
                let answer = try await assistant.reply(text, persona: bot.record.persona, conversation: conversation, owner: bot.record.ownerID)
                try await bot.messenger.send(chat, TelegramHTML.escape(answer))
            } else if let voice = message.voice {
                try await answerVoice(voice, chat: chat, russian: russian, conversation: conversation, bot)
            }
        } catch {
            bot.logger.warning("assistant bot: answering failed", metadata: ["error": "\(error)"])
            let reason = (error as? AppError)?.detail ?? "\(error)"
            _ = try? await bot.messenger.send(
                chat,
                TelegramHTML.escape(russian ? "Не получилось ответить: \(reason)" : "Could not answer: \(reason)")
            )
        }
    }

    func answerVoice(_ voice: Voice, chat: Int64, russian: Bool, conversation: String, _ bot: BotContext) async throws {
        guard voice.duration <= Self.maxVoiceSeconds, (voice.file_size ?? 0) <= Self.maxVoiceBytes else {
            try await bot.messenger.send(chat, russian ? "Сообщение слишком длинное: до 5 минут." : "That message is too long: up to 5 minutes.")
            return
        }
        await bot.messenger.typing(chat, action: "record_voice")
        let file = try await bot.api.getFile(fileID: voice.file_id)
        guard let path = file.file_path else { throw AppError.unavailable("Telegram gave no path for the voice message") }
        let audio = try await bot.api.download(filePath: path, maxBytes: Self.maxVoiceBytes)
        let heard = try await assistant.transcribe(voice: audio, language: russian ? "ru" : "en")
        guard !heard.isEmpty else {
            try await bot.messenger.send(chat, russian ? "Не расслышала, повторите, пожалуйста." : "I could not hear that; please say it again.")
            return
        }
        let answer = try await assistant.reply(heard, persona: bot.record.persona, conversation: conversation, owner: bot.record.ownerID)
        let caption = TelegramHTML.escape(String(("🗣 \(heard)\n\n\(answer)").prefix(1024)))
        if let spoken = try await assistant.speak(answer, persona: bot.record.persona) {
            try await bot.messenger.voice(chat, .upload(filename: "answer.ogg", contentType: "audio/ogg", data: spoken), caption: caption)
        } else {
            try await bot.messenger.send(chat, caption)
        }
    }
}
