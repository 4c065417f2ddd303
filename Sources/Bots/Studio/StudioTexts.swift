import Core
import Foundation
import Telegram

/// Everything the photo studio says, in Russian and English. People's text (names, prompts) is
/// escaped here, since every message goes out in HTML parse mode.
package struct StudioTexts: Sendable {
    let language: StudioLanguage

    package init(_ language: StudioLanguage) { self.language = language }

    func t(_ ru: String, _ en: String) -> String { language == .ru ? ru : en }
    func e(_ text: String) -> String { TelegramHTML.escape(text) }

    func welcome(name: String, tokens: Int64, gift: Int64) -> String {
        let greeting = t("Привет, \(e(name))! Это AI-фотостудия.", "Hi, \(e(name))! This is an AI photo studio.")
        let giftLine = gift > 0 ? t("\n🎁 Вам начислено \(gift) токенов в подарок.", "\n🎁 You got \(gift) free tokens.") : ""
        return greeting + giftLine
            + t(
                "\nВаш баланс: \(tokens) токенов.\n\nНапишите, что нарисовать, — и получите фото. /help — все команды.",
                "\nYour balance: \(tokens) tokens.\n\nWrite what to draw and get a photo. /help lists every command."
            )
    }

    var help: String {
        t(
            """
            <b>Как это работает</b>
            Напишите описание — бот пришлёт фото. Одно фото стоит токены.

            /balance — баланс
            /buy — купить токены
            /models — стили и ваши модели
            /history — ваши фото
            /train — обучить модель на своих фото
            /referral — пригласить друзей
            """,
            """
            <b>How it works</b>
            Write a description and the bot sends a photo. Each photo costs tokens.

            /balance — your balance
            /buy — buy tokens
            /models — styles and your models
            /history — your photos
            /train — train a model on your own photos
            /referral — invite friends
            """
        )
    }

    /// Seed 002's wording.
    func balance(_ tokens: Int64, spent: Int64) -> String {
        t("Ваш баланс: \(tokens) токенов", "Your balance: \(tokens) tokens") + t("\nПотрачено всего: \(spent)", "\nSpent so far: \(spent)")
    }

    var notRegistered: String { t("Вы не зарегистрированы. Используйте /start", "You are not registered. Use /start") }
    var blocked: String { t("Ваш доступ к боту приостановлен.", "Your access to this bot is suspended.") }

    var buyTitle: String { t("Выберите пакет токенов:", "Choose a token package:") }
    func packageButton(_ package: StudioPackage, stars: Bool) -> String {
        stars
            ? t("\(package.tokens) токенов — \(package.price_stars) ⭐", "\(package.tokens) tokens — \(package.price_stars) ⭐")
            : t(
                "\(package.tokens) токенов — \(rubles(package.price_kopecks)) ₽ (ЮMoney)",
                "\(package.tokens) tokens — \(rubles(package.price_kopecks)) ₽ (YooMoney)"
            )
    }
    func invoiceTitle(_ package: StudioPackage) -> String { t("\(package.tokens) токенов", "\(package.tokens) tokens") }
    func invoiceDescription(_ package: StudioPackage) -> String {
        t("Пакет «\(package.title)»: \(package.tokens) токенов для генераций", "Package \"\(package.title)\": \(package.tokens) tokens for images")
    }
    func yooMoneyLink(_ url: String, _ package: StudioPackage) -> String {
        t(
            "Оплата \(rubles(package.price_kopecks)) ₽ через ЮMoney: <a href=\"\(e(url))\">оплатить</a>. Токены придут сразу после оплаты.",
            "Pay \(rubles(package.price_kopecks)) ₽ with YooMoney: <a href=\"\(e(url))\">pay</a>. The tokens arrive as soon as it is paid."
        )
    }
    var packageGone: String { t("Этот пакет больше не продаётся, выберите другой: /buy", "This package is no longer sold; choose another: /buy") }
    func paid(tokens: Int64, balance: Int64) -> String {
        t(
            "✅ Оплата получена: +\(tokens) токенов. Ваш баланс: \(balance) токенов",
            "✅ Payment received: +\(tokens) tokens. Your balance: \(balance) tokens"
        )
    }
    func referralBonus(_ tokens: Int64) -> String {
        t("🎉 Ваш друг сделал покупку: вам +\(tokens) токенов.", "🎉 A friend you invited made a purchase: +\(tokens) tokens for you.")
    }
    func refunded(tokens: Int64) -> String {
        t("Платёж возвращён, списано \(tokens) токенов.", "The payment was refunded; \(tokens) tokens were taken back.")
    }

    func notEnough(cost: Int64, left: Int64) -> String {
        t(
            "Не хватает токенов: нужно \(cost), осталось \(left). Пополнить: /buy",
            "Not enough tokens: this needs \(cost) and \(left) are left. Buy more: /buy"
        )
    }
    func queued(_ prompt: String, style: String) -> String {
        t("⏳ В очереди: «\(e(String(prompt.prefix(200))))»\nСтиль: \(e(style))", "⏳ Queued: \"\(e(String(prompt.prefix(200))))\"\nStyle: \(e(style))")
    }
    func position(_ position: Int, style: String) -> String {
        t("⏳ В очереди, перед вами \(position)\nСтиль: \(e(style))", "⏳ In the queue, \(position) ahead of you\nStyle: \(e(style))")
    }
    func running(_ fraction: Double?, style: String) -> String {
        let percent = fraction.map { " \(Int(($0 * 100).rounded()))%" } ?? ""
        return t("🎨 Рисую…\(percent)\nСтиль: \(e(style))", "🎨 Drawing…\(percent)\nStyle: \(e(style))")
    }
    func done(_ prompt: String) -> String { t("✅ Готово: «\(e(String(prompt.prefix(200))))»", "✅ Done: \"\(e(String(prompt.prefix(200))))\"") }
    func failed(_ reason: String, tokens: Int64) -> String {
        t(
            "❌ Не получилось: \(e(String(reason.prefix(300)))). \(tokens) токенов возвращены.",
            "❌ That did not work: \(e(String(reason.prefix(300)))). \(tokens) tokens are back on your balance."
        )
    }
    func cancelled(tokens: Int64) -> String { t("Отменено, \(tokens) токенов возвращены.", "Cancelled; \(tokens) tokens are back.") }
    var cancelButton: String { t("Отменить", "Cancel") }
    var tooLong: String { t("Описание слишком длинное: не больше 1000 символов.", "The description is too long: at most 1000 characters.") }
    var busy: String {
        t("Сервис сейчас перегружен, попробуйте через минуту. Токены не списаны.", "The studio is busy; try again in a minute. No tokens were taken.")
    }

    func history(page: Int, pages: Int) -> String {
        t("Ваши фото, страница \(page) из \(pages):", "Your photos, page \(page) of \(pages):")
    }
    var historyEmpty: String { t("Пока пусто. Напишите, что нарисовать.", "Nothing yet. Write what to draw.") }
    func historyLine(_ generation: StudioGeneration) -> String {
        let mark =
            switch generation.status {
            case "success": "✅"
            case "failed": "❌"
            case "cancelled": "⏹"
            default: "⏳"
            }
        return "\(mark) \(e(String((generation.prompt_text ?? "").prefix(80))))"
    }
    var more: String { t("Ещё ▶️", "More ▶️") }
    var back: String { t("◀️ Назад", "◀️ Back") }

    var modelsTitle: String { t("Стили. Нажмите, чтобы выбрать:", "Styles. Tap one to use it:") }
    var ownModelsTitle: String { t("Ваши модели:", "Your models:") }
    var defaultStyle: String { t("Обычный", "Default") }
    func styleChosen(_ title: String) -> String { t("Стиль выбран: \(e(title))", "Style set: \(e(title))") }
    func modelLine(_ model: StudioModel) -> String {
        let state =
            switch model.status {
            case "ready": t("готова", "ready")
            case "error": t("ошибка", "failed")
            default: t("обучается", "training")
            }
        return "• \(e(model.name)) (\(e(model.trigger_word))) — \(state)"
    }

    func referral(link: String, figures: StudioUsers.ReferralFigures, percent: Int) -> String {
        t(
            "Приглашайте друзей по ссылке:\n\(e(link))\n\nВы получаете \(percent)% токенов с каждой их покупки.\nПриглашено: \(figures.invited), купили: \(figures.paying), бонусов: \(figures.bonusTokens) токенов.",
            "Invite friends with this link:\n\(e(link))\n\nYou get \(percent)% of the tokens of every purchase they make.\nInvited: \(figures.invited), bought: \(figures.paying), bonus so far: \(figures.bonusTokens) tokens."
        )
    }

    var trainIntro: String {
        t(
            "Пришлите 10–20 своих фото (альбомом или по одному) или zip-архив с ними. Когда закончите — /train_start. Отмена — /train_cancel.",
            "Send 10–20 photos of yourself (as an album or one by one) or a zip of them. When done, send /train_start. To stop, /train_cancel."
        )
    }
    func trainCount(_ count: Int) -> String { t("Фото получено: \(count) из 10–20.", "Photo received: \(count) of 10–20.") }
    func trainNeedMore(_ count: Int) -> String { t("Нужно хотя бы 10 фото, сейчас \(count).", "At least 10 photos are needed; you sent \(count).") }
    func zipReceived(_ photos: Int) -> String {
        t("Архив получен: \(photos) фото. Когда будете готовы — /train_start.", "Archive received: \(photos) photos. When ready, send /train_start.")
    }
    func zipCount(_ photos: Int) -> String {
        t(
            "В архиве \(photos) фото (JPEG, PNG или WebP), а нужно от 10 до 20. Пришлите другой архив или фото по одному.",
            "The archive holds \(photos) photos (JPEG, PNG or WebP); 10–20 are needed. Send another archive or the photos one by one."
        )
    }
    func zipUnreadable(_ error: ZipDirectory.ReadError) -> String {
        // The damage's technical detail stays in English (it names zip structures); the sentence
        // around it is the person's language.
        let reason =
            switch error {
            case .notZip: t("это не zip-архив", "not a zip archive")
            case .damaged(let what): t("архив повреждён (\(what))", "a damaged zip archive (\(what))")
            case .unsupported(let what): t("такой zip этот сервер не читает (\(what))", "a zip archive this server cannot read (\(what))")
            }
        return t(
            "Не удалось прочитать архив: \(reason). Пришлите обычный zip с фото.",
            "The archive could not be read: \(reason). Send a plain zip of photos."
        )
    }
    var zipTooLarge: String { t("Архив больше 20 МБ — это предел Telegram для ботов.", "The archive is over 20 MB, the most Telegram gives a bot.") }
    var trainTooMany: String { t("Уже 20 фото — это максимум. /train_start", "That makes 20 photos, the most allowed. /train_start") }
    func trainStarted(_ name: String, trigger: String, cost: Int64) -> String {
        t(
            "🚀 Обучение «\(e(name))» началось (\(cost) токенов). Слово-триггер: <code>\(e(trigger))</code>. Я напишу, когда модель будет готова.",
            "🚀 Training \"\(e(name))\" has started (\(cost) tokens). Trigger word: <code>\(e(trigger))</code>. I will write when the model is ready."
        )
    }
    func trainReady(_ name: String) -> String {
        t("✅ Модель «\(e(name))» готова! Выберите её в /models.", "✅ Model \"\(e(name))\" is ready! Pick it in /models.")
    }
    func trainFailed(_ name: String, tokens: Int64) -> String {
        t("❌ Обучение «\(e(name))» не удалось. \(tokens) токенов возвращены.", "❌ Training \"\(e(name))\" failed. \(tokens) tokens are back.")
    }
    var trainCancelled: String { t("Обучение отменено.", "Training cancelled.") }
    var trainUnavailable: String { t("Обучение сейчас недоступно.", "Training is not available right now.") }
    var unknownCommand: String { t("Не знаю такой команды. /help", "I do not know that command. /help") }
    var oops: String { t("Что-то пошло не так, попробуйте ещё раз.", "Something went wrong; please try again.") }
    var adminOnly: String { t("Эта команда только для администраторов.", "This command is for admins only.") }

    func rubles(_ kopecks: Int64) -> String {
        kopecks % 100 == 0 ? "\(kopecks / 100)" : "\(kopecks / 100).\(String(format: "%02lld", kopecks % 100))"
    }
}
