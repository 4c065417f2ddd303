import Billing
import Core
import Foundation
import SQLKit
import Telegram

/// Seed 002's admin commands, for the bot's admins only (`admin_ids`): figures, people (find,
/// block, grant tokens), models, payments, refunds and broadcasts.
extension StudioBot {
    func admin(command: String, argument: String, chat: Int64, messageID: Int64, _ bot: BotContext) async throws {
        switch command {
        case "admin_stats": try await bot.messenger.send(chat, try await statsText())
        case "admin_users": try await bot.messenger.send(chat, try await usersCommand(argument, key: "grant:\(bot.id):\(chat):\(messageID)", bot))
        case "admin_models": try await bot.messenger.send(chat, try await modelsCommand(argument))
        case "admin_payments":
            let rows = try await payments.recent(limit: 15)
            let lines = rows.map { row in
                let amount = row.currency == "XTR" ? "\(row.amount) ⭐" : "\(StudioTexts(.ru).rubles(row.amount)) ₽"
                return
                    "#\(row.payment_id) \(Self.day(row.date)) user \(row.user_id.map(String.init) ?? "-"): \(amount), \(row.tokens) tokens, \(row.status)"
                    + (row.provider == "stars" ? "\n   <code>\(TelegramHTML.escape(String(row.external_id.dropFirst(6))))</code>" : "")
            }
            try await bot.messenger.send(chat, (["<b>Payments</b>"] + (lines.isEmpty ? ["none yet"] : lines)).joined(separator: "\n"))
        case "admin_refund": try await bot.messenger.send(chat, try await refundCommand(argument, bot))
        case "admin_broadcast":
            guard !argument.isEmpty, argument.unicodeScalars.count <= 4000 else {
                return try await bot.messenger.send(chat, "Usage: /admin_broadcast &lt;text, at most 4000 characters&gt;").discard()
            }
            let people = try await users.reachable()
            let id = "bc_\(bot.id)_\(chat)_\(messageID)"
            try await outbox.enqueue(bot: bot.id, broadcast: id, text: TelegramHTML.escape(argument), chats: people, now: Timestamp.millis(Date()))
            try await bot.messenger.send(chat, "📣 Broadcast \(id) queued for \(people.count) people; it goes out at Telegram's pace.")
        default:
            try await bot.messenger.send(
                chat,
                "/admin_stats, /admin_users [query | block ID | unblock ID | grant ID TOKENS reason], /admin_models [hide NAME | show NAME], /admin_payments, /admin_refund CHARGE_ID, /admin_broadcast TEXT"
            )
        }
    }

    static func day(_ millis: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Timestamp.date(millis))
    }

    func statsText() async throws -> String {
        let figures = try await stats(days: 7)
        let revenue = figures.revenue.map { day in
            let amount = day.currency == "XTR" ? "\(day.amount) ⭐" : "\(StudioTexts(.ru).rubles(day.amount)) ₽"
            return "\(day.day): \(amount) (\(day.payments))"
        }
        return """
            <b>Studio</b>
            People: \(figures.users) (active today \(figures.active_users_day), this week \(figures.active_users_week))
            Images: \(figures.generations.succeeded) (today \(figures.generations.today)), failed \(figures.generations.failed)
            <b>Revenue, last 7 days</b>
            \(revenue.isEmpty ? "none" : revenue.joined(separator: "\n"))
            """
    }

    /// `key` identifies the admin's message: a grant handled again after a restart is not given twice.
    func usersCommand(_ argument: String, key: String, _ bot: BotContext) async throws -> String {
        let words = argument.split(separator: " ", maxSplits: 3).map(String.init)
        switch words.first {
        case "block", "unblock":
            guard words.count >= 2, let id = Int64(words[1]) else { return "Usage: /admin_users \(words[0]) USER_ID" }
            let found = try await users.setBlocked(id, words[0] == "block")
            return found ? "User \(id) \(words[0])ed." : "No user \(id)."
        case "grant":
            guard words.count >= 3, let id = Int64(words[1]), let tokens = Int64(words[2]), (1...1_000_000).contains(tokens) else {
                return "Usage: /admin_users grant USER_ID TOKENS reason"
            }
            guard try await users.find(id) != nil else { return "No user \(id)." }
            let reason = words.count > 3 ? String(words[3].prefix(200)) : "granted by an admin"
            let outcome = try await ledger.credit(StudioUser.account(id), tokens: tokens, kind: "grant", reason: reason, externalKey: key)
            guard case .done(let balance) = outcome else { return "This grant was given already." }
            return "Granted \(tokens) tokens to \(id) (\(TelegramHTML.escape(reason))). Balance: \(balance.available)."
        default:
            let found = words.isEmpty ? try await users.search("", limit: 10) : try await users.search(argument, limit: 10)
            guard !found.isEmpty else { return "No one found." }
            return found.map { user in
                let name = [user.first_name, user.last_name].compactMap { $0 }.joined(separator: " ")
                let handle = user.username.map { " @\($0)" } ?? ""
                let flags = (user.blocked ? " 🚫" : "") + (user.bot_blocked != 0 ? " (blocked the bot)" : "")
                return
                    "\(user.user_id) \(TelegramHTML.escape(name))\(TelegramHTML.escape(handle)): \(user.tokens_left) left, \(user.tokens_spent) spent\(flags)"
            }.joined(separator: "\n")
        }
    }

    /// Seed 002's model management: the catalog's styles people are offered, which an admin hides
    /// from /models or shows again, and people's trained models. New LoRAs come into the catalog
    /// through the hub (the downloads bot, or `POST /api/v1/downloads`).
    func modelsCommand(_ argument: String) async throws -> String {
        let words = argument.split(separator: " ", maxSplits: 1).map(String.init)
        let styles = try await styles()
        if let action = words.first, action == "hide" || action == "show" {
            guard words.count == 2, let style = styles.first(where: { $0.key == "catalog:\(words[1])" }) else {
                return "Usage: /admin_models \(action) NAME, with a NAME from /admin_models."
            }
            if action == "hide" {
                try await hiddenStyles.hide(style.key, now: Timestamp.millis(Date()))
            } else {
                try await hiddenStyles.show(style.key)
            }
            return "\(TelegramHTML.escape(style.title)) is \(action == "hide" ? "hidden from" : "offered again in") /models."
        }
        guard words.isEmpty else { return "Usage: /admin_models [hide NAME | show NAME]" }
        let hidden = try await hiddenStyles.all()
        let styleLines = styles.prefix(60).map { style in
            let name = TelegramHTML.escape(String(style.key.dropFirst("catalog:".count)))
            return
                "<code>\(name)</code> \(TelegramHTML.escape(style.title)) (\(style.detail ?? "model"))\(hidden.contains(style.key) ? " — hidden" : "")"
        }
        let trained = try await models.all(limit: 20).map {
            "#\($0.model_id) \(TelegramHTML.escape($0.name)) — \($0.status), user \($0.user_id.map(String.init) ?? "-")"
        }
        var lines = ["<b>Styles</b> (/admin_models hide NAME | show NAME)"] + (styleLines.isEmpty ? ["none in the catalog"] : styleLines)
        lines += ["", "<b>Trained models</b>"] + (trained.isEmpty ? ["none yet"] : trained)
        return lines.joined(separator: "\n")
    }

    /// Refunds a Stars payment through Telegram, then takes its tokens back.
    func refundCommand(_ argument: String, _ bot: BotContext) async throws -> String {
        let charge = argument.trimmingCharacters(in: .whitespaces)
        guard !charge.isEmpty, charge.count <= 200 else { return "Usage: /admin_refund TELEGRAM_PAYMENT_CHARGE_ID (see /admin_payments)" }
        guard
            let row = try await database.sql.raw(
                "SELECT user_id, status FROM \"Payment\" WHERE external_id = \(bind: "stars:\(charge)")"
            ).first()
        else { return "No Stars payment with that charge id." }
        let user = try row.decode(column: "user_id", as: Int64.self)
        if try row.decode(column: "status", as: String.self) == "refunded" { return "Already refunded." }
        do {
            try await bot.api.refundStarPayment(userID: user, telegramPaymentChargeID: charge)
        } catch let error as BotAPIError {
            // Telegram refunded it before (by us or by the person's dispute): take the tokens anyway.
            guard case .refused(_, let text) = error, text.uppercased().contains("CHARGE_ALREADY_REFUNDED") else {
                return "Telegram refused the refund: \(TelegramHTML.escape(error.description))"
            }
        }
        guard let taken = try await payments.refund(provider: "stars", externalID: charge) else { return "Already refunded." }
        let language = try await users.find(user)?.language ?? .en
        _ = try? await bot.messenger.send(user, StudioTexts(language).refunded(tokens: taken.taken))
        return "Refunded; \(taken.taken) tokens taken back from \(user)."
    }
}
