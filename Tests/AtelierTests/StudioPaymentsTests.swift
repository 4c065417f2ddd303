import Billing
import Bots
import Core
import Crypto
import Foundation
import HTTPTypes
import NIOCore
import SQLKit
import Testing

/// Money in and out of the studio: YooMoney notifications checked by their SHA-1 and credited
/// once per operation, Stars refunds, admin broadcasts through the outbox, admin grants and the
/// rate-limited error notifications.
@Suite("Studio bot: payments, refunds, broadcasts", .timeLimit(.minutes(3)))
struct StudioPaymentsTests {
    static let secret = "yoo-secret-0123456789"
    static let settings = ["ATELIER_YOOMONEY_WALLET": "410011234567890", "ATELIER_YOOMONEY_SECRET": secret]

    /// A notification as YooMoney posts it, signed as its documentation says.
    static func notification(
        operation: String,
        amount: String,
        label: String,
        withdraw: String? = nil,
        codepro: String = "false",
        secret: String = secret
    )
        -> String
    {
        let fields: [(String, String)] = [
            ("notification_type", "p2p-incoming"), ("operation_id", operation), ("amount", amount), ("currency", "643"),
            ("datetime", "2026-12-06T12:00:00Z"), ("sender", "41001000040"), ("codepro", codepro), ("label", label),
        ]
        let signed = ["p2p-incoming", operation, amount, "643", "2026-12-06T12:00:00Z", "41001000040", codepro, secret, label].joined(separator: "&")
        let hash = Insecure.SHA1.hash(data: Data(signed.utf8)).map { String(format: "%02x", $0) }.joined()
        var all = fields + [("sha1_hash", hash), ("test_notification", "false"), ("unaccepted", "false")]
        if let withdraw { all.append(("withdraw_amount", withdraw)) }
        return all.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0.1)" }.joined(separator: "&")
    }

    static func post(_ studio: StudioHarness, _ form: String) async throws -> (status: HTTPResponse.Status, json: [String: Any]) {
        let response = try await studio.app.client.execute(
            uri: "/webhooks/yoomoney",
            method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded"],
            body: ByteBuffer(string: form)
        )
        return (response.status, response.json)
    }

    @Test("a YooMoney payment link, then its notification credited once; a forged, short or protected one credits nothing")
    func yooMoney() async throws {
        try await StudioHarness.run(Self.settings) { studio in
            studio.say(3, "/start")
            try await studio.waitForText(3, containing: "Ваш баланс: 3")
            studio.press(3, "buy:yoo:start")
            let link = try await studio.waitForText(3, containing: "yoomoney.ru/quickpay")
            #expect(link.contains("receiver=410011234567890"))
            #expect(link.contains("sum=99.00"))
            let label = try #require(link.range(of: #"label=ord_[A-Za-z0-9]+"#, options: .regularExpression).map { String(link[$0].dropFirst(6)) })

            let forged = try await Self.post(
                studio,
                Self.notification(operation: "op-1", amount: "97.02", label: label, withdraw: "99.00", secret: "wrong")
            )
            #expect(forged.status == .unauthorized)
            let short = try await Self.post(studio, Self.notification(operation: "op-2", amount: "49.50", label: label, withdraw: "50.00"))
            #expect(short.status == .ok)
            #expect((short.json["detail"] as? String)?.contains("less") == true)
            let protected = try await Self.post(studio, Self.notification(operation: "op-3", amount: "97.02", label: label, codepro: "true"))
            #expect(protected.status == .ok)
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"Payment\"") == 0, "nothing recorded")
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 3") == 3)

            let good = Self.notification(operation: "op-4", amount: "97.02", label: label, withdraw: "99.00")
            let first = try await Self.post(studio, good)
            #expect(first.status == .ok)
            #expect(first.json["detail"] as? String == "credited 10 tokens")
            let again = try await Self.post(studio, good)
            #expect(again.json["detail"] as? String == "already credited")
            try await studio.waitForText(3, containing: "Оплата получена: +10 токенов. Ваш баланс: 13 токенов")
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"Payment\"") == 1)
            #expect(try await studio.number("SELECT amount AS n FROM \"Payment\"") == 9900, "kopecks the payer paid")
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 3") == 13)
            try await studio.waitForText(900, containing: "99 ₽ (YooMoney)")
        }
    }

    @Test("a YooMoney notification that reaches an API-only process is answered by the process running the bot")
    func yooMoneyToAnotherProcess() async throws {
        let fake = try await FakeTelegram.start()
        let installation = try TestApp.freshInstallation()
        let settings = Self.settings.merging(["ATELIER_TELEGRAM_API_URL": fake.baseURL]) { $1 }
        let result = await Result {
            try await TestApp.run(installation: installation, settings) { botProcess in
                let admin = try await botProcess.login()
                let created = try await StudioHarness.addBot(botProcess, admin, token: fake.token, extra: #""admin_ids": [900]"#)
                let id = try #require(created.json["id"] as? String)
                #expect(try await botProcess.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
                let studio = StudioHarness(app: botProcess, fake: fake, botID: id, admin: admin)
                studio.say(5, "/start")
                try await studio.waitForText(5, containing: "Ваш баланс: 3")
                studio.press(5, "buy:yoo:start")
                let link = try await studio.waitForText(5, containing: "yoomoney.ru/quickpay")
                let label = try #require(
                    link.range(of: #"label=ord_[A-Za-z0-9]+"#, options: .regularExpression).map { String(link[$0].dropFirst(6)) }
                )
                // The API process cannot reach Telegram: whatever is sent comes from the bot process.
                let api = settings.merging(["ATELIER_BOTS": "false", "ATELIER_TELEGRAM_API_URL": "http://127.0.0.1:1"]) { $1 }
                try await TestApp.run(installation: installation, api) { apiProcess in
                    let front = StudioHarness(app: apiProcess, fake: fake, botID: id, admin: admin)
                    let paid = try await Self.post(front, Self.notification(operation: "op-x1", amount: "97.02", label: label, withdraw: "99.00"))
                    #expect(paid.json["detail"] as? String == "credited 10 tokens", "\(paid.json)")
                }
                try await studio.waitForText(5, containing: "Оплата получена: +10 токенов. Ваш баланс: 13 токенов")
                try await studio.waitForText(900, containing: "99 ₽ (YooMoney)")
            }
        }
        await TestDatabase.cleanUp(installation)
        await fake.stop()
        try result.get()
    }

    @Test("a successful_payment delivered 100 times and a YooMoney notification posted 100 times at once: each credited once")
    func replays() async throws {
        try await StudioHarness.run(Self.settings) { studio in
            studio.say(8, "/start")
            try await studio.waitForText(8, containing: "Ваш баланс: 3")
            let payment: [String: Any] = [
                "successful_payment": [
                    "currency": "XTR", "total_amount": 50, "invoice_payload": "pkg:start:10:50", "telegram_payment_charge_id": "stxREPLAY",
                ]
            ]
            for _ in 0..<100 { studio.send(8, payment) }
            let pushed = studio.fake.state.withLockedValue { $0.updates.count }
            try await studio.waitFor("every delivery handled") {
                let offset = try await studio.app.runtime.bots.updates.nextOffset(bot: studio.botID)
                let waiting = try await studio.app.runtime.bots.updates.inbox(bot: studio.botID)
                return offset == Int64(pushed + 1) && waiting.isEmpty
            }
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 8") == 13)
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"Payment\"") == 1)
            #expect(studio.texts(to: 8).filter { $0.contains("Оплата получена") }.count == 1)

            studio.press(8, "buy:yoo:start")
            let link = try await studio.waitForText(8, containing: "yoomoney.ru/quickpay")
            let label = try #require(link.range(of: #"label=ord_[A-Za-z0-9]+"#, options: .regularExpression).map { String(link[$0].dropFirst(6)) })
            let form = Self.notification(operation: "op-replay", amount: "97.02", label: label, withdraw: "99.00")
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<100 { group.addTask { try await Self.post(studio, form).json["detail"] as? String ?? "?" } }
                var answers: [String] = []
                for try await answer in group { answers.append(answer) }
                return answers
            }
            #expect(answers.filter { $0 == "credited 10 tokens" }.count == 1, "\(Set(answers))")
            #expect(answers.filter { $0 == "already credited" }.count == 99)
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 8") == 23)
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"Payment\"") == 2)
        }
    }

    @Test("without ATELIER_YOOMONEY_SECRET notifications are refused with what to set")
    func yooMoneyNotConfigured() async throws {
        try await TestApp.run { app in
            let response = try await app.client.execute(
                uri: "/webhooks/yoomoney",
                method: .post,
                headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "notification_type=p2p-incoming")
            )
            #expect(response.status == .serviceUnavailable)
            #expect(response.detail.contains("ATELIER_YOOMONEY_SECRET"))
        }
    }

    @Test("/admin_refund refunds the Stars payment through Telegram and takes its tokens back, once")
    func starsRefund() async throws {
        try await StudioHarness.run { studio in
            studio.say(4, "/start")
            try await studio.waitForText(4, containing: "Ваш баланс: 3")
            studio.send(
                4,
                [
                    "successful_payment": [
                        "currency": "XTR", "total_amount": 50, "invoice_payload": "pkg:start:10:50", "telegram_payment_charge_id": "stxREFUND",
                    ]
                ]
            )
            try await studio.waitForText(4, containing: "Ваш баланс: 13")
            studio.say(4, "/admin_refund stxREFUND")
            try await studio.waitForText(4, containing: "только для администраторов")
            studio.say(900, "/admin_refund stxREFUND")
            try await studio.waitForText(900, containing: "Refunded; 10 tokens taken back from 4")
            let refund = try #require(studio.fake.calls("refundStarPayment").first?.params)
            #expect(refund["telegram_payment_charge_id"] as? String == "stxREFUND")
            #expect("\(refund["user_id"] ?? "")" == "4")
            try await studio.waitForText(4, containing: "списано 10 токенов")
            // Telegram then sends the refunded_payment message: nothing more is taken.
            studio.send(
                4,
                [
                    "refunded_payment": [
                        "currency": "XTR", "total_amount": 50, "invoice_payload": "pkg:start:10:50", "telegram_payment_charge_id": "stxREFUND",
                    ]
                ]
            )
            studio.say(900, "/admin_refund stxREFUND")
            try await studio.waitForText(900, containing: "Already refunded.")
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 4") == 3)
            #expect(studio.fake.calls("refundStarPayment").count == 1)
        }
    }

    @Test("a refunded payment takes the referrer's bonus back too, once")
    func refundTakesReferralBonusBack() async throws {
        try await StudioHarness.run { studio in
            studio.say(11, "/start")
            try await studio.waitForText(11, containing: "Ваш баланс: 3")
            let code = try await studio.referralCode(of: 11)
            studio.say(12, "/start ref_\(code)")
            try await studio.waitForText(12, containing: "Ваш баланс: 3")
            let payment: [String: Any] = [
                "successful_payment": [
                    "currency": "XTR", "total_amount": 50, "invoice_payload": "pkg:start:10:50", "telegram_payment_charge_id": "stxBONUS",
                ]
            ]
            studio.send(12, payment)
            try await studio.waitForText(11, containing: "+1 токенов")
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 11") == 4)
            #expect(try await studio.number("SELECT bonus_tokens AS n FROM \"ReferralInvite\" WHERE referred_id = 12") == 1)
            studio.say(11, "/referral")
            let figures = try await studio.waitForText(11, containing: "Приглашено: 1, купили: 1, бонусов: 1 токенов")
            #expect(figures.contains("?start=ref_\(code)"), "the link to share: \(figures)")
            // One referrer per person, set when they first arrive, and nobody refers themselves.
            studio.say(12, "/start ref_\(code)")
            studio.say(11, "/start ref_\(code)")
            try await studio.waitFor("both greeted again") {
                studio.texts(to: 11).filter { $0.contains("Это AI-фотостудия") }.count >= 2
                    && studio.texts(to: 12).filter { $0.contains("Это AI-фотостудия") }.count >= 2
            }
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"ReferralInvite\"") == 1)
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"User\" WHERE user_id = 11 AND referred_by IS NULL") == 1)

            studio.say(900, "/admin_refund stxBONUS")
            try await studio.waitForText(900, containing: "Refunded; 10 tokens taken back from 12")
            // Telegram's refunded_payment message after it changes nothing more.
            studio.send(
                12,
                [
                    "refunded_payment": [
                        "currency": "XTR", "total_amount": 50, "invoice_payload": "pkg:start:10:50", "telegram_payment_charge_id": "stxBONUS",
                    ]
                ]
            )
            studio.say(900, "/admin_refund stxBONUS")
            try await studio.waitForText(900, containing: "Already refunded.")
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 12") == 3)
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 11") == 3)
            #expect(try await studio.number("SELECT bonus_tokens AS n FROM \"ReferralInvite\" WHERE referred_id = 12") == 0)
            studio.say(11, "/referral")
            try await studio.waitForText(11, containing: "бонусов: 0 токенов")
            #expect(
                try await studio.number("SELECT COUNT(*) AS n FROM token_ledger WHERE kind = 'referral_refund'") == 1,
                "the bonus is taken back once"
            )
        }
    }

    @Test("a broadcast reaches each person once, skips and marks who blocked the bot, and a restart sends nothing twice")
    func broadcast() async throws {
        try await StudioHarness.run { studio in
            for person in Int64(11)...13 {
                studio.say(person, "/start")
                try await studio.waitForText(person, containing: "Ваш баланс")
            }
            studio.fake.state.withLockedValue { _ = $0.blocked.insert(12) }
            studio.say(900, "/admin_broadcast New styles <today>!")
            try await studio.waitForText(900, containing: "queued for 3 people")
            try await studio.waitFor("the broadcast sent") {
                try await studio.number("SELECT COUNT(*) AS n FROM telegram_outbox WHERE state IN ('sent', 'blocked')") == 3
            }
            for person: Int64 in [11, 13] {
                #expect(studio.texts(to: person).filter { $0 == "New styles &lt;today&gt;!" }.count == 1)
            }
            #expect(try await studio.number("SELECT bot_blocked AS n FROM \"User\" WHERE user_id = 12") == 1)
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM telegram_outbox WHERE state = 'blocked' AND chat_id = 12") == 1)
            // A second broadcast skips the person who blocked the bot.
            studio.say(900, "/admin_broadcast Second")
            try await studio.waitForText(900, containing: "queued for 2 people")
            try await studio.waitFor("the second sent") { studio.texts(to: 13).contains("Second") }

            // A process stopped while a message was going out: after the restart it is not sent
            // again (it may have reached the person).
            try await studio.app.runtime.database.sql.raw(
                """
                INSERT INTO telegram_outbox (id, bot_id, broadcast_id, chat_id, text, state, created_at)
                VALUES ('ob_cut', \(bind: studio.botID), 'bc_cut', 13, 'Interrupted', 'sending', 0)
                """
            ).run()
            #expect(try await studio.app.request(.post, "/admin/telegram/bots/\(studio.botID)/stop", token: studio.admin).status == .ok)
            #expect(try await studio.app.request(.post, "/admin/telegram/bots/\(studio.botID)/start", token: studio.admin).status == .ok)
            try await studio.waitFor("the interrupted row settled") {
                try await studio.number("SELECT COUNT(*) AS n FROM telegram_outbox WHERE id = 'ob_cut' AND state = 'unknown'") == 1
            }
            #expect(!studio.texts(to: 13).contains("Interrupted"))
        }
    }

    @Test("an admin grants tokens with a reason, finds people and sees the figures; a non-admin cannot")
    func adminPeople() async throws {
        try await StudioHarness.run { studio in
            studio.send(21, ["text": "/start"])
            try await studio.waitForText(21, containing: "Ваш баланс: 3")
            studio.say(900, "/admin_users grant 21 7 birthday gift")
            try await studio.waitForText(900, containing: "Granted 7 tokens to 21 (birthday gift). Balance: 10.")
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 21") == 10)
            studio.say(900, "/admin_users Person 21")
            try await studio.waitForText(900, containing: "21 Person 21: 10 left, 0 spent")
            studio.say(900, "/admin_stats")
            try await studio.waitForText(900, containing: "People: 1")
            let stats = try await studio.app.request(.get, "/admin/studio/stats", token: studio.admin)
            #expect(stats.json["users"] as? Int == 1)
            #expect((stats.json["generations"] as? [String: Any])?["total"] as? Int == 0)
            let user = try await studio.app.makeUser("plain")
            #expect(try await studio.app.request(.get, "/admin/studio/stats", token: user.token).status == .forbidden)
            studio.say(21, "/admin_users grant 21 100 me")
            try await studio.waitForText(21, containing: "только для администраторов")
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 21") == 10)
        }
    }

    @Test("an error storm reaches the admins as one message a minute, with how many more there were")
    func errorNotificationsAreRateLimited() async throws {
        try await StudioHarness.run { studio in
            let record = try #require(try await studio.app.runtime.bots.store.find(id: studio.botID))
            let bot = try studio.app.runtime.bots.context(record)
            let notifier = AdminNotifier(interval: .seconds(2))
            // A storm: six at once (a send may be slow on a loaded machine; the storm is not).
            await withTaskGroup(of: Void.self) { group in
                for n in 1...6 { group.addTask { await notifier.error(bot, "failure \(n)") } }
            }
            #expect(studio.texts(to: 900).filter { $0.contains("failure") }.count == 1)
            try await Task.sleep(for: .milliseconds(2100))
            await notifier.error(bot, "failure 7")
            let errors = studio.texts(to: 900).filter { $0.contains("failure") }
            #expect(errors.count == 2)
            #expect(errors.last?.contains("(+5 more since the last message)") == true, "\(errors)")
        }
    }
}
