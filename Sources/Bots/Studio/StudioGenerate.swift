import Billing
import Core
import Crypto
import Foundation
import Telegram

/// A prompt becomes a photo: tokens reserved, a job queued, one status message edited as the job
/// moves, the photo sent, the tokens captured (or refunded on failure or cancel). The watcher
/// runs in the bot's lease holder and follows the `Generation` rows, so a restart picks up
/// where the last process stopped.
extension StudioBot {
    static let maxPrompt = 1000

    func generate(prompt: String, user: StudioUser, chat: Int64, messageID: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        guard prompt.unicodeScalars.count <= Self.maxPrompt else { return try await bot.messenger.send(chat, texts.tooLong).discard() }
        guard generator != nil else { return try await bot.messenger.send(chat, texts.busy).discard() }
        let style = try await resolveStyle(user.style, user: user)
        let cost = settings.generationCost
        guard
            var generation = try await generations.create(
                user: user.user_id,
                bot: bot.id,
                chat: chat,
                requestKey: "\(bot.id):\(chat):\(messageID)",
                prompt: prompt,
                style: style.key,
                modelID: style.ownModel?.model_id,
                tokens: cost,
                now: Timestamp.millis(Date())
            )
        else { return }  // this message was taken care of before a restart
        do {
            _ = try await ledger.reserve(user.account, tokens: cost, job: generation.key, reason: "image \(generation.generation_id)")
        } catch {
            // No reservation: the row must not stay open (the watcher would run it for free).
            let short = (error as? AppError)?.status.code == 402
            _ = try await generations.finish(
                generation.generation_id,
                status: short ? "cancelled" : "failed",
                error: short ? "not enough tokens" : Self.reason(error),
                resultURL: nil,
                now: Timestamp.millis(Date())
            )
            guard short else { throw error }
            let left = try await ledger.balance(user.account).available
            return try await bot.messenger.send(chat, texts.notEnough(cost: cost, left: left)).discard()
        }
        let status = try await bot.messenger.send(
            chat,
            texts.queued(prompt, style: style.title),
            markup: InlineKeyboardMarkup([[InlineKeyboardButton(text: texts.cancelButton, callback_data: "cx:\(generation.generation_id)")]])
        )
        generation.status_message_id = status.message_id
        try await submit(generation, style: style, bot)
    }

    /// Queues the job of a reserved generation; the same key finds the same job when this runs
    /// again (after a crash between the reservation and the queue).
    /// `style` when the caller has resolved it already (a fresh prompt); the watcher's retry
    /// resolves it from the row.
    func submit(_ generation: StudioGeneration, style resolved: ResolvedStyle? = nil, _ bot: BotContext) async throws {
        guard let generator else { return }
        let style: ResolvedStyle
        if let resolved { style = resolved } else { style = try await resolveStyle(generation.style, user: nil) }
        do {
            let job = try await generator.submit(
                prompt: generation.prompt_text ?? "",
                model: style.model,
                lora: style.lora,
                owner: StudioUser.account(generation.user_id),
                key: generation.key
            )
            try await generations.queued(generation.generation_id, job: job, statusMessage: generation.status_message_id)
        } catch {
            try await end(generation, status: "failed", reason: Self.reason(error), bot)
        }
    }

    /// What a person is told about a failure: the API's detail, not a type name.
    static func reason(_ error: any Error) -> String {
        if let error = error as? AppError { return error.detail }
        return "\(error)"
    }

    struct ResolvedStyle {
        var key: String?
        var title: String
        var model: String?
        var lora: String?
        var ownModel: StudioModel?
    }

    /// A stored style key as the queue needs it: `catalog:<name>` (a checkpoint or LoRA of the
    /// catalog) or `own:<model_id>` (the person's trained LoRA, once ready).
    func resolveStyle(_ key: String?, user: StudioUser?) async throws -> ResolvedStyle {
        let texts = StudioTexts(user?.language ?? .en)
        guard let key else { return ResolvedStyle(key: nil, title: texts.defaultStyle) }
        if key.hasPrefix("own:"), let id = Int64(key.dropFirst(4)), let model = try await models.find(id), model.status == "ready" {
            return ResolvedStyle(key: key, title: model.name, lora: model.version, ownModel: model)
        }
        if key.hasPrefix("catalog:") {
            let name = String(key.dropFirst(8))
            if let style = try await offeredStyles().first(where: { $0.key == key }) {
                let isLora = style.detail?.lowercased().contains("lora") == true
                return ResolvedStyle(key: key, title: style.title, model: isLora ? nil : name, lora: isLora ? name : nil)
            }
        }
        return ResolvedStyle(key: nil, title: texts.defaultStyle)
    }

    /// Follows the bot's open generations until cancelled.
    func watchGenerations(_ bot: BotContext) async {
        var shown: [Int64: String] = [:]
        while !Task.isCancelled {
            do {
                let open = try await generations.open(bot: bot.id)
                // One read of the catalog's titles per round, not one per open generation.
                let titles = open.isEmpty ? [:] : Dictionary(try await styles().map { ($0.key, $0.title) }, uniquingKeysWith: { first, _ in first })
                for generation in open where !Task.isCancelled {
                    try await follow(generation, titles: titles, shown: &shown, bot)
                }
                shown = shown.filter { id, _ in open.contains { $0.generation_id == id } }
            } catch {
                if Task.isCancelled { return }
                bot.logger.warning("studio: following generations failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(700))
        }
    }

    func follow(_ generation: StudioGeneration, titles: [String: String], shown: inout [Int64: String], _ bot: BotContext) async throws {
        guard let generator else { return }
        guard let job = generation.job_id else {
            // Reserved but never queued (the process stopped in between): queue it now.
            if Timestamp.millis(Date()) - generation.created_at > 30_000 { try await submit(generation, bot) }
            return
        }
        let language = try await users.find(generation.user_id)?.language ?? .en
        let texts = StudioTexts(language)
        let style: String
        if let key = generation.style, let title = titles[key] {
            style = title
        } else if let key = generation.style, key.hasPrefix("own:") {
            style = try await resolveStyle(key, user: nil).title
        } else {
            style = texts.defaultStyle
        }
        let text: String
        switch try await generator.progress(job: job) {
        case .queued(let position):
            text = position.map { texts.position($0, style: style) } ?? texts.queued(generation.prompt_text ?? "", style: style)
        case .running(let fraction):
            text = texts.running(fraction, style: style)
        case .succeeded(let png, let url):
            return try await deliver(generation, png: png, url: url, texts: texts, bot)
        case .failed(let reason):
            return try await end(generation, status: "failed", reason: reason, bot)
        case .cancelled:
            return try await end(generation, status: "cancelled", reason: nil, bot)
        }
        guard let message = generation.status_message_id, shown[generation.generation_id] != text else { return }
        shown[generation.generation_id] = text
        let cancel = InlineKeyboardMarkup([[InlineKeyboardButton(text: texts.cancelButton, callback_data: "cx:\(generation.generation_id)")]])
        try? await bot.messenger.edit(generation.chat_id, message, text, markup: cancel)
    }

    /// Sends the photo, then takes the tokens, then closes the row: a crash in between sends the
    /// photo again at worst, and never charges twice (capture is once per job) or for nothing.
    func deliver(_ generation: StudioGeneration, png: Data, url: String?, texts: StudioTexts, _ bot: BotContext) async throws {
        let sent: Message
        do {
            sent = try await bot.messenger.photo(
                generation.chat_id,
                .upload(filename: "atelier-\(generation.generation_id).png", contentType: "image/png", data: png),
                caption: texts.done(generation.prompt_text ?? "")
            )
        } catch let error as BotAPIError {
            switch error {
            case .blocked, .chatNotFound:
                // Nobody to give it to: not charged.
                return try await end(generation, status: "failed", reason: "the photo could not be delivered: \(error)", bot, tell: false)
            default: throw error  // tried again next round
            }
        }
        // Kept so /history sends the photo again by id, without uploading it.
        if let photo = sent.photo?.max(by: { $0.width * $0.height < $1.width * $1.height }) {
            try await generations.setPhoto(generation.generation_id, fileID: photo.file_id)
        }
        _ = try await ledger.capture(StudioUser.account(generation.user_id), job: generation.key)
        guard try await generations.finish(generation.generation_id, status: "success", error: nil, resultURL: url, now: Timestamp.millis(Date()))
        else {
            return
        }
        if let message = generation.status_message_id { try? await bot.api.deleteMessage(chatID: generation.chat_id, messageID: message) }
    }

    /// A generation that will not produce a photo: its tokens go back (once per job, so first),
    /// then the row closes, and the person is told once.
    func end(_ generation: StudioGeneration, status: String, reason: String?, _ bot: BotContext, tell: Bool = true) async throws {
        _ = try await ledger.refund(StudioUser.account(generation.user_id), job: generation.key)
        guard try await generations.finish(generation.generation_id, status: status, error: reason, resultURL: nil, now: Timestamp.millis(Date()))
        else {
            return
        }
        if status == "failed" { await notifier.error(bot, "generation \(generation.generation_id) failed: \(reason ?? "")") }
        guard tell else { return }
        let texts = StudioTexts(try await users.find(generation.user_id)?.language ?? .en)
        let text = status == "cancelled" ? texts.cancelled(tokens: generation.tokens) : texts.failed(reason ?? "", tokens: generation.tokens)
        if let message = generation.status_message_id {
            try? await bot.messenger.edit(generation.chat_id, message, text)
        } else {
            _ = try? await bot.messenger.send(generation.chat_id, text)
        }
    }

    /// The Cancel button of a status message.
    func cancelGeneration(_ id: Int64, user: Int64, _ bot: BotContext) async throws -> Bool {
        guard let generation = try await generations.find(id), generation.user_id == user, generation.isOpen else { return false }
        if let job = generation.job_id, let generator { try await generator.cancel(job: job) }
        try await end(generation, status: "cancelled", reason: nil, bot)
        return true
    }

    /// /history: a page of the person's generations, the photos sent again by file id.
    func history(user: StudioUser, offset: Int, chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        let size = settings.historyPageSize
        let page = try await generations.history(user: user.user_id, offset: offset, limit: size)
        guard page.total > 0 else { return try await bot.messenger.send(chat, texts.historyEmpty).discard() }
        let photos = page.items.compactMap { item in
            item.photo_file_id.map { InputMediaPhoto(.fileID($0), caption: TelegramHTML.escape(String((item.prompt_text ?? "").prefix(200)))) }
        }
        if photos.count == 1, let only = photos.first {
            try await bot.messenger.photo(chat, only.media, caption: only.caption)
        } else if photos.count > 1 {
            try await bot.messenger.album(chat, photos)
        }
        var navigation: [InlineKeyboardButton] = []
        if offset > 0 { navigation.append(InlineKeyboardButton(text: texts.back, callback_data: "hist:\(max(0, offset - size))")) }
        if offset + size < page.total { navigation.append(InlineKeyboardButton(text: texts.more, callback_data: "hist:\(offset + size)")) }
        let lines = [texts.history(page: offset / size + 1, pages: (page.total + size - 1) / size)] + page.items.map(texts.historyLine)
        try await bot.messenger.send(chat, lines.joined(separator: "\n"), markup: navigation.isEmpty ? nil : InlineKeyboardMarkup([navigation]))
    }

    /// /models: the catalog's styles and the person's own models, each a button that selects it.
    func showStyles(user: StudioUser, chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        var rows: [[InlineKeyboardButton]] = [[InlineKeyboardButton(text: mark(nil, user) + texts.defaultStyle, callback_data: "st:default")]]
        for style in try await offeredStyles().prefix(40) {
            rows.append([
                InlineKeyboardButton(text: mark(style.key, user) + String(style.title.prefix(60)), callback_data: "st:\(Self.styleToken(style.key))")
            ])
        }
        let own = try await models.of(user: user.user_id)
        for model in own where model.status == "ready" {
            rows.append([
                InlineKeyboardButton(text: mark("own:\(model.model_id)", user) + "⭐ " + model.name, callback_data: "st:own:\(model.model_id)")
            ])
        }
        var text = texts.modelsTitle
        if !own.isEmpty { text += "\n\n" + texts.ownModelsTitle + "\n" + own.map(texts.modelLine).joined(separator: "\n") }
        try await bot.messenger.send(chat, text, markup: InlineKeyboardMarkup(rows))
    }

    func mark(_ key: String?, _ user: StudioUser) -> String { key == user.style ? "✅ " : "" }

    /// Catalog names can be longer than a button's 64 bytes of data: buttons carry a digest.
    static func styleToken(_ key: String) -> String {
        String(Hex.encode(SHA256.hash(data: Data(key.utf8))).prefix(16))
    }

    func chooseStyle(_ token: String, user: StudioUser, chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws -> String? {
        if token == "default" {
            try await users.setStyle(user.user_id, nil)
            return texts.defaultStyle
        }
        if token.hasPrefix("own:"), let id = Int64(token.dropFirst(4)), let model = try await models.find(id), model.user_id == user.user_id,
            model.status == "ready"
        {
            try await users.setStyle(user.user_id, "own:\(id)")
            return model.name
        }
        guard let style = try await offeredStyles().first(where: { Self.styleToken($0.key) == token }) else { return nil }
        try await users.setStyle(user.user_id, style.key)
        return style.title
    }
}
