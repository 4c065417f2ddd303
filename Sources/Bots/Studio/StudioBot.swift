import Billing
import Core
import Foundation
import Logging
import Storage
import Telegram

/// Seed 002's photo studio: people register with /start (a referral link counts), buy tokens with
/// Telegram Stars or YooMoney, write a prompt and get a photo, see their history, train a LoRA on
/// their own face; admins see figures and manage people from the same bot.
package struct StudioBot: BotBehavior {
    package let users: StudioUsers
    package let generations: StudioGenerations
    package let models: StudioModels
    package let payments: StudioPayments
    package let ledger: TokenLedger
    package let outbox: BroadcastOutbox
    package let training: StudioTrainingPhotos
    package let hiddenStyles: StudioHiddenStyles
    let generator: (any ImageGenerator)?
    let trainer: (any LoraTrainer)?
    package let settings: StudioSettings
    let notifier: AdminNotifier
    let database: Database

    package init(
        database: Database,
        ledger: TokenLedger,
        generator: (any ImageGenerator)?,
        trainer: (any LoraTrainer)?,
        settings: StudioSettings
    ) {
        self.database = database
        self.ledger = ledger
        users = StudioUsers(database: database)
        generations = StudioGenerations(database: database)
        models = StudioModels(database: database)
        payments = StudioPayments(database: database, ledger: ledger, users: users, referralPercent: settings.referralPercent)
        outbox = BroadcastOutbox(database: database)
        training = StudioTrainingPhotos(database: database)
        hiddenStyles = StudioHiddenStyles(database: database)
        self.generator = generator
        self.trainer = trainer
        self.settings = settings
        notifier = AdminNotifier(interval: .seconds(settings.errorNotificationSeconds))
    }

    /// The looks people can choose (the catalog's checkpoints and LoRAs).
    package func styles() async throws -> [StudioStyle] { try await generator?.styles() ?? [] }

    /// The looks people are offered: the catalog's, less those an admin hid.
    func offeredStyles() async throws -> [StudioStyle] {
        let all = try await styles()
        guard !all.isEmpty else { return [] }
        let hidden = try await hiddenStyles.all()
        return all.filter { !hidden.contains($0.key) }
    }

    package func prepare(_ bot: BotContext) async throws {
        let commands: [(String, String, String)] = [
            ("start", "Начать", "Start"), ("help", "Помощь", "Help"), ("balance", "Баланс", "Balance"),
            ("buy", "Купить токены", "Buy tokens"), ("models", "Стили и модели", "Styles and models"),
            ("history", "Мои фото", "My photos"), ("train", "Обучить модель", "Train a model"),
            ("referral", "Пригласить друзей", "Invite friends"),
        ]
        try await bot.api.setMyCommands(commands.map { BotCommand($0.0, $0.2) })
        try await bot.api.setMyCommands(commands.map { BotCommand($0.0, $0.1) }, languageCode: "ru")
    }

    package func handle(_ update: Update, _ bot: BotContext) async {
        do {
            if let query = update.pre_checkout_query {
                try await preCheckout(query, bot)
            } else if let callback = update.callback_query {
                try await pressed(callback, bot)
            } else if let member = update.my_chat_member, member.chat.type == "private", member.new_chat_member.status == "kicked" {
                try await users.setBotBlocked(member.from.id)
            } else if let message = update.message, message.chat.type == "private", let from = message.from, !from.is_bot {
                try await received(message, from: from, bot)
            }
        } catch {
            bot.logger.error("studio: handling an update failed", metadata: ["update": "\(update.update_id)", "error": "\(error)"])
            if let chat = update.chatID, chat > 0 {
                let language = StudioLanguage(code: update.message?.from?.language_code ?? update.callback_query?.from.language_code)
                _ = try? await bot.messenger.send(chat, StudioTexts(language).oops)
            }
            await notifier.error(bot, "update \(update.update_id): \(error)")
        }
    }

    package func background(_ bot: BotContext) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await watchGenerations(bot) }
            group.addTask { await watchTrainings(bot) }
            group.addTask { await outbox.run(bot) }
            await group.waitForAll()
        }
    }

    /// A message in a private chat: a payment, a command, photos for a training, or a prompt.
    func received(_ message: Message, from: User, _ bot: BotContext) async throws {
        let chat = message.chat.id
        let texts = StudioTexts(StudioLanguage(code: from.language_code))
        if let payment = message.successful_payment { return try await paid(payment, from: from, chat: chat, bot) }
        if let refund = message.refunded_payment { return try await refunded(refund, chat: chat, bot) }
        let text = (message.text ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("/") {
            let parts = text.split(separator: " ", maxSplits: 1).map(String.init)
            // `/cmd@this_bot` in a chat with several bots.
            let command = parts[0].dropFirst().split(separator: "@").first.map { String($0).lowercased() } ?? ""
            let argument = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            return try await run(command: command, argument: argument, from: from, chat: chat, messageID: message.message_id, texts: texts, bot)
        }
        guard let user = try await users.find(from.id) else {
            try await bot.messenger.send(chat, texts.notRegistered)
            return
        }
        if user.blocked {
            try await bot.messenger.send(chat, texts.blocked)
            return
        }
        try await users.touch(user.user_id, now: Timestamp.millis(Date()))
        if user.pending_action == "train", message.photo != nil || message.document != nil {
            return try await addTrainingFile(message, user: user, texts: texts, bot)
        }
        guard !text.isEmpty else {
            try await bot.messenger.send(chat, texts.help)
            return
        }
        try await generate(prompt: text, user: user, chat: chat, messageID: message.message_id, texts: texts, bot)
    }

    func run(command: String, argument: String, from: User, chat: Int64, messageID: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        switch command {
        case "start": return try await start(from: from, payload: argument, chat: chat, texts: texts, bot)
        case "help": return try await bot.messenger.send(chat, texts.help).discard()
        default: break
        }
        if command.hasPrefix("admin_") {
            guard bot.isAdmin(from.id) else { return try await bot.messenger.send(chat, texts.adminOnly).discard() }
            return try await admin(command: command, argument: argument, chat: chat, messageID: messageID, bot)
        }
        guard let user = try await users.find(from.id) else { return try await bot.messenger.send(chat, texts.notRegistered).discard() }
        if user.blocked { return try await bot.messenger.send(chat, texts.blocked).discard() }
        try await users.touch(user.user_id, now: Timestamp.millis(Date()))
        switch command {
        case "balance":
            let balance = try await ledger.balance(user.account)
            try await bot.messenger.send(chat, texts.balance(balance.available, spent: balance.spent))
        case "buy": try await offerPackages(chat: chat, texts: texts, bot)
        case "history": try await history(user: user, offset: 0, chat: chat, texts: texts, bot)
        case "models", "styles": try await showStyles(user: user, chat: chat, texts: texts, bot)
        case "referral": try await referral(user: user, chat: chat, texts: texts, bot)
        case "train": try await trainIntro(user: user, chat: chat, texts: texts, bot)
        case "train_start": try await trainStart(user: user, chat: chat, texts: texts, bot)
        case "train_cancel":
            try await users.setPendingAction(user.user_id, nil)
            try await training.clear(user: user.user_id)
            try await bot.messenger.send(chat, texts.trainCancelled)
        default: try await bot.messenger.send(chat, texts.unknownCommand)
        }
    }

    /// /start, with `ref_<code>` when the person came by a friend's link.
    func start(from: User, payload: String, chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        let code = payload.hasPrefix("ref_") ? String(payload.dropFirst(4).prefix(32)) : nil
        let (user, created) = try await users.register(from, referralCode: code, now: Timestamp.millis(Date()))
        if user.blocked { return try await bot.messenger.send(chat, texts.blocked).discard() }
        var gift: Int64 = 0
        if created, settings.welcomeTokens > 0 {
            if case .done = try await ledger.credit(
                user.account,
                tokens: settings.welcomeTokens,
                kind: "welcome",
                reason: "welcome gift",
                externalKey: "welcome:\(user.user_id)"
            ) {
                gift = settings.welcomeTokens
            }
        }
        let balance = try await ledger.balance(user.account)
        try await bot.messenger.send(chat, texts.welcome(name: from.first_name, tokens: balance.available, gift: gift))
        if created {
            let who = from.username.map { "@\($0)" } ?? from.first_name
            let via = user.referred_by.map { ", invited by \($0)" } ?? ""
            await notifier.tell(bot, "👤 New user: \(TelegramHTML.escape(who)) (\(from.id))\(via)")
        }
    }

    func referral(user: StudioUser, chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        var username = bot.record.username
        if username == nil { username = try? await bot.api.getMe().username }
        let link = "https://t.me/\(username ?? "bot")?start=ref_\(user.referral_code)"
        let figures = try await users.referralFigures(user.user_id)
        try await bot.messenger.send(chat, texts.referral(link: link, figures: figures, percent: settings.referralPercent))
    }
}

extension Message {
    /// Lets a `return try await send(…)` end a `Void` function.
    func discard() {}
}
