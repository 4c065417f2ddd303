import Core
import Foundation
import Telegram

/// Seed 000's bot: an admin sends a Civitai or Hugging Face link, sees what it is, picks every GPU
/// machine or one, and watches one status message show each machine's progress and then its
/// result (file, path, model, version). Only the bot's admins may use it: it writes to the
/// fleet's disks.
package struct DownloadsBot: BotBehavior {
    let fleet: any ModelFleet
    let store: FleetDownloadStore

    package init(fleet: any ModelFleet, store: FleetDownloadStore) {
        self.fleet = fleet
        self.store = store
    }

    struct Texts {
        let ru: Bool
        init(_ code: String?) { ru = StudioLanguage(code: code) == .ru }
        func t(_ ru: String, _ en: String) -> String { self.ru ? ru : en }

        var help: String {
            t(
                "Пришлите ссылку на модель Civitai или Hugging Face (или civitai:ID, AIR, hf:владелец/репозиторий/файл) — я скачаю её на выбранные ПК.",
                "Send a Civitai or Hugging Face model link (or civitai:ID, an AIR, hf:owner/repo/file) and I will download it onto the PCs you pick."
            )
        }
        var notAllowed: String { t("Этот бот только для администраторов.", "This bot is for its admins only.") }
        var noTargets: String {
            t("Нет ни одного ПК: добавьте узлы в /api/v1/fleet/nodes.", "There is no PC to download to: add nodes at /api/v1/fleet/nodes.")
        }
        var all: String { t("Все ПК", "All PCs") }
        var already: String { t("Эта загрузка уже запущена.", "This download has started already.") }
        func summary(_ s: ModelSummary) -> String {
            let version = s.version.map { " — \(TelegramHTML.escape($0))" } ?? ""
            let size = s.bytes.map { " (\(Self.size($0)))" } ?? ""
            return "<b>\(TelegramHTML.escape(s.model))</b>\(version)\n\(s.kind), \(s.files.count) "
                + t("файл(ов)", "file(s)") + size + "\n" + t("Куда скачать?", "Where to download it?")
        }
        func refused(_ detail: String) -> String { t("Не получилось: ", "That did not work: ") + TelegramHTML.escape(detail) }

        static func size(_ bytes: Int64) -> String {
            let units = ["B", "KB", "MB", "GB", "TB"]
            var value = Double(bytes)
            var unit = 0
            while value >= 1024, unit < units.count - 1 {
                value /= 1024
                unit += 1
            }
            return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
        }
    }

    package func prepare(_ bot: BotContext) async throws {
        try await bot.api.setMyCommands([BotCommand("start", "How to use this bot"), BotCommand("nodes", "The PCs models go to")])
    }

    package func handle(_ update: Update, _ bot: BotContext) async {
        do {
            if let callback = update.callback_query {
                try await pressed(callback, bot)
            } else if let message = update.message, let from = message.from, message.chat.type == "private" {
                try await received(message, from: from, bot)
            }
        } catch {
            bot.logger.error("downloads bot: handling an update failed", metadata: ["update": "\(update.update_id)", "error": "\(error)"])
            if let chat = update.chatID { _ = try? await bot.messenger.send(chat, Texts(update.message?.from?.language_code).refused("\(error)")) }
        }
    }

    package func background(_ bot: BotContext) async {
        var shown: [String: String] = [:]
        while !Task.isCancelled {
            do {
                for request in try await store.running(bot: bot.id) where !Task.isCancelled {
                    try await follow(request, shown: &shown, bot)
                }
            } catch {
                if Task.isCancelled { return }
                bot.logger.warning("downloads bot: following downloads failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    func received(_ message: Message, from: User, _ bot: BotContext) async throws {
        let texts = Texts(from.language_code)
        let chat = message.chat.id
        guard bot.isAdmin(from.id) else { return try await bot.messenger.send(chat, texts.notAllowed).discard() }
        let text = (message.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty || text.hasPrefix("/start") || text.hasPrefix("/help") { return try await bot.messenger.send(chat, texts.help).discard() }
        if text.hasPrefix("/nodes") {
            let targets = try await fleet.targets()
            return try await bot.messenger.send(
                chat,
                targets.isEmpty ? texts.noTargets : targets.map { "• \(TelegramHTML.escape($0.name))" }.joined(separator: "\n")
            )
            .discard()
        }
        guard text.count <= 2000 else {
            return try await bot.messenger.send(chat, texts.refused("the link is longer than 2000 characters")).discard()
        }
        await bot.messenger.typing(chat)
        let summary: ModelSummary
        do { summary = try await fleet.describe(text) } catch let error as AppError {
            return try await bot.messenger.send(chat, texts.refused(error.detail)).discard()
        }
        let targets = try await fleet.targets()
        guard !targets.isEmpty else { return try await bot.messenger.send(chat, texts.noTargets).discard() }
        let id = try await store.create(bot: bot.id, chat: chat, by: from.id, summary: summary, now: Timestamp.millis(Date()))
        var rows = [[InlineKeyboardButton(text: texts.all, callback_data: "fd:\(id):*")]]
        for target in targets.prefix(30) {
            // The machine's own id, not its place in the list: the fleet may change before the
            // press. Telegram allows 64 bytes of callback data; ids are about 24.
            let data = "fd:\(id):\(target.id)"
            guard data.utf8.count <= 64 else { continue }
            rows.append([InlineKeyboardButton(text: String(target.name.prefix(60)), callback_data: data)])
        }
        try await bot.messenger.send(chat, texts.summary(summary), markup: InlineKeyboardMarkup(rows))
    }

    func pressed(_ callback: CallbackQuery, _ bot: BotContext) async throws {
        let texts = Texts(callback.from.language_code)
        guard bot.isAdmin(callback.from.id) else { return await bot.messenger.answer(callback: callback.id, texts.notAllowed, alert: true) }
        let parts = (callback.data ?? "").split(separator: ":").map(String.init)
        guard parts.count == 3, parts[0] == "fd", let request = try await store.find(parts[1]), request.botID == bot.id else {
            return await bot.messenger.answer(callback: callback.id)
        }
        let targets = try await fleet.targets()
        let chosen = parts[2] == "*" ? targets : targets.filter { $0.id == parts[2] }
        guard !chosen.isEmpty else { return await bot.messenger.answer(callback: callback.id, texts.noTargets, alert: true) }
        // One start per request, whoever presses first.
        guard try await store.claim(request.id) else { return await bot.messenger.answer(callback: callback.id, texts.already) }
        await bot.messenger.answer(callback: callback.id)
        let tickets = try await fleet.start(request.summary.reference, on: chosen, key: "telegram-\(request.id)")
        let status = try await bot.messenger.send(request.chatID, Self.status(request.summary, tickets.map { ($0, nil) }))
        try await store.started(request.id, tickets: tickets, statusMessage: status.message_id)
    }

    /// Edits the request's status message with each target's progress; at the end, the results.
    func follow(_ request: FleetDownloadRequest, shown: inout [String: String], _ bot: BotContext) async throws {
        var states: [(FleetTicket, FleetProgress?)] = []
        for ticket in request.tickets {
            guard ticket.download != nil else {
                states.append((ticket, FleetProgress(status: "failed", error: ticket.error)))
                continue
            }
            do { states.append((ticket, try await fleet.progress(ticket))) } catch let error as AppError {
                // A node that does not answer now may later: shown, not final.
                states.append((ticket, FleetProgress(status: "unreachable", error: error.detail)))
            }
        }
        let text = Self.status(request.summary, states)
        let done = states.allSatisfy { $0.1?.isFinal == true }
        if shown[request.id] != text, let message = request.statusMessageID {
            shown[request.id] = text
            try? await bot.messenger.edit(request.chatID, message, text)
        }
        if done {
            try await store.finish(request.id, now: Timestamp.millis(Date()))
            shown[request.id] = nil
        }
    }

    static func status(_ summary: ModelSummary, _ states: [(FleetTicket, FleetProgress?)]) -> String {
        let version = summary.version.map { " — \(TelegramHTML.escape($0))" } ?? ""
        var lines = ["<b>\(TelegramHTML.escape(summary.model))</b>\(version)"]
        for (ticket, progress) in states {
            let name = TelegramHTML.escape(ticket.target.name)
            guard let progress else {
                lines.append(ticket.download == nil ? "❌ \(name): \(TelegramHTML.escape(ticket.error ?? "refused"))" : "⏳ \(name): queued")
                continue
            }
            switch progress.status {
            case "succeeded":
                let files = progress.paths.map { path in
                    "\n   \(TelegramHTML.escape((path as NSString).lastPathComponent)) → <code>\(TelegramHTML.escape(path))</code>"
                }
                lines.append("✅ \(name)" + files.joined())
            case "failed", "cancelled", "unreachable":
                lines.append("\(progress.status == "unreachable" ? "⚠️" : "❌") \(name): \(TelegramHTML.escape(progress.error ?? progress.status))")
            default:
                var line = "⏳ \(name): \(progress.status)"
                if let received = progress.receivedBytes, let total = progress.totalBytes, total > 0 {
                    line += " \(Int(Double(received) * 100 / Double(total)))% of \(Texts.size(total))"
                }
                if let speed = progress.bytesPerSecond, speed > 0 { line += ", \(Texts.size(Int64(speed)))/s" }
                lines.append(line)
            }
        }
        // Telegram refuses messages over 4096 characters: the rest is counted, not shown.
        var text = lines[0]
        for (index, line) in lines.dropFirst().enumerated() {
            guard text.count + line.count < 3900 else {
                text += "\n… +\(lines.count - 1 - index)"
                break
            }
            text += "\n" + line
        }
        return text
    }
}
