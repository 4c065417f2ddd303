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
                let language = user.language_code.flatMap { $0.split(separator: "-").first.map { String($0).lowercased() } }
                try await answerVoice(voice, chat: chat, russian: russian, language: language, conversation: conversation, bot)
            }
        } catch let unheard as VoiceLanguageUnheard {
            bot.logger.notice(
                "assistant bot: a voice message in a language the recognizer does not hear; ATELIER_STT_URL adds languages",
                metadata: ["language": "\(unheard.language)"]
            )
            _ = try? await bot.messenger.send(
                chat,
                russian
                    ? "Голосовые сообщения я пока понимаю только на английском. Напишите, пожалуйста, текстом."
                    : "I can only understand voice messages in English for now. Please write instead."
            )
        } catch {
            bot.logger.warning("assistant bot: answering failed", metadata: ["error": "\(error)"])
            _ = try? await bot.messenger.send(chat, TelegramHTML.escape(Self.apology(for: error, russian: russian)))
        }
    }

    /// What the person hears when answering failed. A limit they hit (429) is theirs to know;
    /// anything else (a provider down, a setting missing) is the operator's, in the log: the
    /// person is not told about the server's settings or upstreams.
    static func apology(for error: any Error, russian: Bool) -> String {
        if let error = error as? AppError, error.status.code == 429 {
            // A budget for the month (Retry-After in days) is not "wait a moment".
            let wait = error.headers[.retryAfter].flatMap { Int($0) } ?? 0
            if wait > 3600 {
                return russian ? "Лимит ответов на этот месяц исчерпан." : "This month's limit of answers has been reached."
            }
            return russian ? "Слишком много сообщений, подождите немного." : "Too many messages; please wait a moment."
        }
        return russian ? "Не получилось ответить, попробуйте чуть позже." : "I could not answer just now; please try again a little later."
    }

    func answerVoice(_ voice: Voice, chat: Int64, russian: Bool, language: String?, conversation: String, _ bot: BotContext) async throws {
        guard voice.duration <= Self.maxVoiceSeconds, (voice.file_size ?? 0) <= Self.maxVoiceBytes else {
            try await bot.messenger.send(chat, russian ? "Сообщение слишком длинное: до 5 минут." : "That message is too long: up to 5 minutes.")
            return
        }
        // Known before anything is downloaded.
        guard assistant.hears(language: language) else { throw VoiceLanguageUnheard(language: language ?? "") }
        await bot.messenger.typing(chat, action: "record_voice")
        let file = try await bot.api.getFile(fileID: voice.file_id)
        guard let path = file.file_path else { throw AppError.unavailable("Telegram gave no path for the voice message") }
        let audio = try await bot.api.download(filePath: path, maxBytes: Self.maxVoiceBytes)
        // The speaker's language as Telegram says it (nil when it does not), not the reply
        // language's Russian default: a person without a language_code may well speak English.
        let heard = try await assistant.transcribe(voice: audio, language: language)
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
