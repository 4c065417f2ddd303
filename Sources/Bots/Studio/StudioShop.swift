import Billing
import Core
import Foundation
import Telegram

/// /buy and the money: Telegram Stars invoices (pre-checkout check, credit once per
/// `telegram_payment_charge_id`, refunds) and YooMoney payment links.
extension StudioBot {
    func offerPackages(chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        let packages = try await payments.packages()
        var rows: [[InlineKeyboardButton]] = []
        for package in packages {
            var row = [InlineKeyboardButton(text: texts.packageButton(package, stars: true), callback_data: "buy:stars:\(package.id)")]
            if settings.yooMoneyWallet != nil, package.price_kopecks > 0 {
                row.append(InlineKeyboardButton(text: texts.packageButton(package, stars: false), callback_data: "buy:yoo:\(package.id)"))
            }
            rows.append(row)
        }
        try await bot.messenger.send(chat, texts.buyTitle, markup: InlineKeyboardMarkup(rows))
    }

    /// The invoice payload names the package and what was offered, so the payment is credited
    /// as offered even if an admin changes the package meanwhile.
    static func payload(_ package: StudioPackage) -> String { "pkg:\(package.id):\(package.tokens):\(package.price_stars)" }

    static func parsePayload(_ payload: String) -> (package: String, tokens: Int64, stars: Int64)? {
        let parts = payload.split(separator: ":").map(String.init)
        guard parts.count == 4, parts[0] == "pkg", let tokens = Int64(parts[2]), let stars = Int64(parts[3]), tokens > 0 else { return nil }
        return (parts[1], tokens, stars)
    }

    func buy(_ choice: String, packageID: String, user: StudioUser, chat: Int64, texts: StudioTexts, _ bot: BotContext) async throws {
        guard let package = try await payments.findPackage(packageID), package.active != 0 else {
            return try await bot.messenger.send(chat, texts.packageGone).discard()
        }
        if choice == "stars" {
            _ = try await bot.messenger.deliver(chat) { target in
                try await bot.api.sendInvoice(
                    chatID: target,
                    title: texts.invoiceTitle(package),
                    description: texts.invoiceDescription(package),
                    payload: Self.payload(package),
                    currency: "XTR",
                    prices: [LabeledPrice(label: texts.invoiceTitle(package), amount: Int(package.price_stars))]
                )
            }
        } else if let wallet = settings.yooMoneyWallet {
            let order = try await payments.createOrder(user: user.user_id, package: package, bot: bot.id, now: Timestamp.millis(Date()))
            let link = YooMoneyNotification.paymentLink(
                wallet: wallet,
                kopecks: package.price_kopecks,
                label: order.id,
                title: texts.invoiceTitle(package)
            )
            try await bot.messenger.send(chat, texts.yooMoneyLink(link, package))
        }
    }

    /// Telegram asks before taking the money (answer within 10 s): the package must still be
    /// sold at the price on the invoice, in stars, to a person who is not blocked.
    func preCheckout(_ query: PreCheckoutQuery, _ bot: BotContext) async throws {
        let texts = StudioTexts(StudioLanguage(code: query.from.language_code))
        var problem: String?
        if let offer = Self.parsePayload(query.invoice_payload), query.currency == "XTR", Int64(query.total_amount) == offer.stars {
            let package = try await payments.findPackage(offer.package)
            if package == nil || package?.active == 0 || package?.price_stars != offer.stars || package?.tokens != offer.tokens {
                problem = texts.packageGone
            } else if try await users.find(query.from.id)?.blocked ?? true {
                problem = texts.blocked
            }
        } else {
            problem = texts.packageGone
        }
        try await bot.api.answerPreCheckoutQuery(id: query.id, ok: problem == nil, errorMessage: problem)
    }

    func paid(_ payment: SuccessfulPayment, from: User, chat: Int64, _ bot: BotContext) async throws {
        let texts = StudioTexts(StudioLanguage(code: from.language_code))
        guard let offer = Self.parsePayload(payment.invoice_payload) else {
            await notifier.error(bot, "a payment with an unknown payload: \(payment.telegram_payment_charge_id)")
            return
        }
        // Someone who paid is registered, whatever happened to the /start.
        if try await users.find(from.id) == nil { _ = try await users.register(from, referralCode: nil, now: Timestamp.millis(Date())) }
        let outcome = try await payments.credit(
            user: from.id,
            tokens: offer.tokens,
            amount: Int64(payment.total_amount),
            currency: payment.currency,
            provider: "stars",
            externalID: payment.telegram_payment_charge_id,
            packageID: offer.package,
            now: Timestamp.millis(Date())
        )
        guard case .credited(let balance, let referrer, let bonus) = outcome else { return }
        try await bot.messenger.send(chat, texts.paid(tokens: offer.tokens, balance: balance))
        try await tellReferrer(referrer, bonus: bonus, bot)
        await notifier.tell(bot, "💰 Payment: \(payment.total_amount) ⭐ from \(from.id) for \(offer.tokens) tokens")
    }

    /// Tells the person who invited a buyer about their bonus (a failed send is not the buyer's problem).
    func tellReferrer(_ referrer: Int64?, bonus: Int64, _ bot: BotContext) async throws {
        guard let referrer, bonus > 0, let inviter = try await users.find(referrer) else { return }
        _ = try? await bot.messenger.send(referrer, StudioTexts(inviter.language).referralBonus(bonus))
    }

    /// Telegram says a Stars payment was refunded (by us or by Telegram): its tokens go back.
    func refunded(_ refund: RefundedPayment, chat: Int64, _ bot: BotContext) async throws {
        guard let taken = try await payments.refund(provider: "stars", externalID: refund.telegram_payment_charge_id) else { return }
        let language = try await users.find(taken.user)?.language ?? .en
        try await bot.messenger.send(chat, StudioTexts(language).refunded(tokens: taken.taken))
        await notifier.tell(bot, "↩️ Refunded: \(refund.total_amount) ⭐ to \(taken.user), \(taken.taken) tokens taken back")
    }

    /// A verified YooMoney notification: credits the order its label names, once per operation.
    /// Returns what happened, for the HTTP answer and the logs.
    package func creditYooMoney(_ notification: YooMoneyNotification, bot: BotContext?) async throws -> String {
        guard let order = try await payments.order(notification.label) else {
            return "no order \(notification.label): nothing credited"
        }
        // `amount` (signed) is what reached the wallet after YooMoney's fee (up to a few per cent);
        // `withdraw_amount` (what the payer paid) is not signed, so it alone cannot be believed.
        guard notification.paidKopecks >= order.amount_kopecks, notification.amountKopecks * 100 >= order.amount_kopecks * 90 else {
            if let bot {
                await notifier.error(bot, "YooMoney paid \(notification.paidKopecks) kopecks for order \(order.id) of \(order.amount_kopecks)")
            }
            return "paid less than the order's price: nothing credited"
        }
        let outcome = try await payments.credit(
            user: order.user_id,
            tokens: order.tokens,
            amount: notification.paidKopecks,
            currency: "RUB",
            provider: "yoomoney",
            externalID: notification.operationID,
            packageID: order.package_id,
            now: Timestamp.millis(Date())
        )
        guard case .credited(let balance, let referrer, let bonus) = outcome else { return "already credited" }
        if let bot {
            // Into the bot's outbox, not sent from here: this request may reach any process, and
            // only the one running the bot sends for it, through its one flood limiter.
            let key = "yoomoney:\(notification.operationID)"
            let now = Timestamp.millis(Date())
            let language = try await users.find(order.user_id)?.language ?? .ru
            let paid = StudioTexts(language).paid(tokens: order.tokens, balance: balance)
            try await outbox.enqueue(bot: bot.id, broadcast: key + ":paid", text: paid, chats: [order.user_id], now: now)
            if let referrer, bonus > 0, let inviter = try await users.find(referrer) {
                let text = StudioTexts(inviter.language).referralBonus(bonus)
                try await outbox.enqueue(bot: bot.id, broadcast: key + ":referral", text: text, chats: [referrer], now: now)
            }
            let note = "💰 Payment: \(StudioTexts(.ru).rubles(notification.paidKopecks)) ₽ (YooMoney) from \(order.user_id) for \(order.tokens) tokens"
            try await outbox.enqueue(bot: bot.id, broadcast: key + ":admins", text: note, chats: bot.record.adminIDs, now: now)
        }
        return "credited \(order.tokens) tokens"
    }
}
