import Core
import Foundation
import SQLKit
import Testing

/// The photo studio as people use it, through a fake Bot API: /start with a referral link,
/// the balance in the seed's words, a prompt that becomes a photo with its status message and
/// tokens captured, the history, and a Stars purchase credited once with the referrer's bonus.
/// On SQLite and PostgreSQL (the ledger and the seed's tables are in the database).
@Suite("Studio bot: a person's journey", .timeLimit(.minutes(3)))
struct StudioJourneyTests {
    @Test("/start, referral, /balance, a photo, /history, a Stars purchase credited once, the referrer's bonus")
    func journey() async throws {
        try await StudioHarness.run { studio in
            let alice: Int64 = 1001
            let bob: Int64 = 1002
            studio.say(alice, "/start")
            try await studio.waitForText(alice, containing: "Ваш баланс: 3 токенов")
            let code = try await studio.referralCode(of: alice)
            studio.say(bob, "/start ref_\(code)", language: "en")
            try await studio.waitForText(bob, containing: "Your balance: 3 tokens")
            // The admin hears of both.
            try await studio.waitForText(900, containing: "invited by 1001")

            studio.say(alice, "/balance")
            try await studio.waitFor { studio.texts(to: alice).filter { $0.hasPrefix("Ваш баланс: 3 токенов") }.count == 1 }

            // A prompt: a status message with a Cancel button, then the photo, and the token spent.
            studio.say(alice, "a cat in a hat <b>bold</b>")
            try await studio.waitForText(alice, containing: "В очереди")
            try await studio.waitFor("the photo") { studio.fake.calls("sendPhoto").contains { "\($0.params["chat_id"] ?? "")" == "1001" } }
            let photo = try #require(studio.fake.calls("sendPhoto").last)
            #expect(photo.files["photo"]?.starts(with: [0x89, 0x50, 0x4E, 0x47]) == true, "a PNG is uploaded")
            #expect((photo.params["caption"] as? String)?.contains("&lt;b&gt;bold&lt;/b&gt;") == true, "the prompt is escaped: \(photo.params)")
            // The row closes after the capture (deliver's order), so wait for the closed row.
            try await studio.waitFor("the generation closed") {
                try await studio.number("SELECT COUNT(*) AS n FROM \"Generation\" WHERE user_id = 1001 AND status = 'success'") == 1
            }
            #expect(try await studio.number("SELECT tokens_spent AS n FROM \"User\" WHERE user_id = 1001") == 1)
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 1001") == 2)
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"Generation\" WHERE photo_file_id IS NOT NULL") == 1)

            studio.say(alice, "/history")
            try await studio.waitForText(alice, containing: "страница 1 из 1")
            // The photo is sent again by its file id, not uploaded again.
            try await studio.waitFor("the history photo") {
                studio.fake.calls("sendPhoto").filter { "\($0.params["chat_id"] ?? "")" == "1001" }.count == 2
            }
            #expect(studio.fake.calls("sendPhoto").last?.files.isEmpty == true)

            // Bob buys 10 tokens for 50 stars.
            studio.press(bob, "buy:stars:start", language: "en")
            try await studio.waitFor("the invoice") { !studio.fake.calls("sendInvoice").isEmpty }
            let invoice = try #require(studio.fake.calls("sendInvoice").first?.params)
            #expect(invoice["currency"] as? String == "XTR")
            #expect((invoice["prices"] as? [[String: Any]])?.first?["amount"] as? Int == 50)
            let payload = try #require(invoice["payload"] as? String)
            studio.fake.push([
                "pre_checkout_query": [
                    "id": "pcq1", "from": StudioHarness.person(bob, language: "en"), "currency": "XTR", "total_amount": 50,
                    "invoice_payload": payload,
                ]
            ])
            try await studio.waitFor("the pre-checkout answer") { !studio.fake.calls("answerPreCheckoutQuery").isEmpty }
            #expect(studio.fake.calls("answerPreCheckoutQuery").first?.params["ok"] as? Bool == true)
            let payment: [String: Any] = [
                "successful_payment": [
                    "currency": "XTR", "total_amount": 50, "invoice_payload": payload, "telegram_payment_charge_id": "stxCHARGE1",
                    "provider_payment_charge_id": "",
                ]
            ]
            studio.send(bob, payment, language: "en")
            studio.send(bob, payment, language: "en")  // Telegram delivering it again: credited once
            try await studio.waitForText(bob, containing: "Payment received: +10 tokens. Your balance: 13 tokens")
            // Alice invited Bob: 10 % of his 10 tokens.
            try await studio.waitForText(alice, containing: "+1 токенов")
            let pushed = studio.fake.state.withLockedValue { $0.updates.count }
            try await studio.waitFor("every update handled") { studio.fake.calls("getUpdates").last?.params["offset"] as? Int == pushed + 1 }
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 1002") == 13)
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 1001") == 3)
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"Payment\"") == 1)
            #expect(try await studio.number("SELECT amount AS n FROM \"Payment\"") == 50)
            #expect(try await studio.number("SELECT bonus_tokens AS n FROM \"ReferralInvite\" WHERE referred_id = 1002") == 1)
            #expect(studio.texts(to: bob).filter { $0.contains("Payment received") }.count == 1)

            // The same message handled again (as after a restart in the middle of it): one image, one charge.
            studio.send(alice, ["text": "a fox", "message_id": 4242])
            studio.send(alice, ["text": "a fox", "message_id": 4242])
            try await studio.waitFor("the fox") {
                try await studio.number("SELECT tokens_spent AS n FROM \"User\" WHERE user_id = 1001") == 2
            }
            let all = studio.fake.state.withLockedValue { $0.updates.count }
            try await studio.waitFor("both handled") {
                let offset = try await studio.app.runtime.bots.updates.nextOffset(bot: studio.botID)
                let waiting = try await studio.app.runtime.bots.updates.inbox(bot: studio.botID)
                return offset == Int64(all + 1) && waiting.isEmpty
            }
            let foxes = try await studio.number("SELECT COUNT(*) AS n FROM \"Generation\" WHERE prompt_text = 'a fox'")
            #expect(foxes == 1, "\(String(describing: foxes)) generations of one message")
        }
    }

    @Test("pre-checkout refuses an invoice whose package changed, and a person who is blocked")
    func preCheckoutChecks() async throws {
        try await StudioHarness.run { studio in
            studio.say(7, "/start")
            try await studio.waitForText(7, containing: "Ваш баланс")
            let packages = try await studio.app.request(
                .put,
                "/admin/studio/packages/start",
                token: studio.admin,
                json: #"{"price_stars": 75}"#
            )
            #expect(packages.status == .ok, "\(packages.detail)")
            studio.fake.push([
                "pre_checkout_query": [
                    "id": "old", "from": StudioHarness.person(7), "currency": "XTR", "total_amount": 50, "invoice_payload": "pkg:start:10:50",
                ]
            ])
            try await studio.waitFor { studio.fake.calls("answerPreCheckoutQuery").count == 1 }
            let refused = try #require(studio.fake.calls("answerPreCheckoutQuery").first?.params)
            #expect(refused["ok"] as? Bool == false)
            #expect((refused["error_message"] as? String)?.contains("/buy") == true)

            studio.say(900, "/admin_users block 7")
            try await studio.waitForText(900, containing: "User 7 blocked")
            studio.fake.push([
                "pre_checkout_query": [
                    "id": "new", "from": StudioHarness.person(7), "currency": "XTR", "total_amount": 75, "invoice_payload": "pkg:start:10:75",
                ]
            ])
            try await studio.waitFor { studio.fake.calls("answerPreCheckoutQuery").count == 2 }
            #expect(studio.fake.calls("answerPreCheckoutQuery").last?.params["ok"] as? Bool == false)
            studio.say(7, "a dog")
            try await studio.waitForText(7, containing: "приостановлен")
        }
    }

    @Test("a cancelled generation gives its tokens back; a person without tokens is told what to do")
    func cancelRefunds() async throws {
        try await StudioHarness.run(["ATELIER_STUDIO_WELCOME_TOKENS": "1", "ATELIER_MOCK_DELAY_MS": "1500"]) { studio in
            studio.say(5, "/start", language: "en")
            try await studio.waitForText(5, containing: "Your balance: 1 tokens")
            studio.say(5, "a slow dog", language: "en")
            try await studio.waitForText(5, containing: "Queued")
            let id = try #require(try await studio.number("SELECT generation_id AS n FROM \"Generation\" WHERE user_id = 5"))
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 5") == 0, "reserved while it runs")
            studio.press(5, "cx:\(id)", language: "en")
            try await studio.waitFor("the cancel told") { studio.edits(to: 5).contains { $0.contains("Cancelled; 1 tokens are back.") } }
            #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 5") == 1)
            #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"Generation\" WHERE status = 'cancelled'") == 1)
            studio.say(5, "a dog", language: "en")
            try await studio.waitFor("the photo") { studio.fake.calls("sendPhoto").count == 1 }
            studio.say(5, "another dog", language: "en")
            try await studio.waitForText(5, containing: "Not enough tokens: this needs 1 and 0 are left. Buy more: /buy")
            // The capture follows the photo in the watcher, not in this chat's order: wait for it.
            try await studio.waitFor("the token captured") {
                try await studio.number("SELECT tokens_spent AS n FROM \"User\" WHERE user_id = 5") == 1
            }
            #expect(studio.fake.calls("sendPhoto").count == 1, "the cancelled one sent no photo")
        }
    }

    @Test("/history pages by five: an album of the first five by file id, then the sixth on the next page, with the buttons between")
    func historyPages() async throws {
        try await StudioHarness.run(["ATELIER_STUDIO_WELCOME_TOKENS": "10"]) { studio in
            let person: Int64 = 2001
            studio.say(person, "/start")
            try await studio.waitForText(person, containing: "Ваш баланс: 10")
            for n in 1...6 {
                studio.say(person, "picture number \(n)")
                try await studio.waitFor("photo \(n)") {
                    studio.fake.calls("sendPhoto").filter { "\($0.params["chat_id"] ?? "")" == "2001" }.count == n
                }
            }
            studio.say(person, "/history")
            let first = try await studio.waitForText(person, containing: "страница 1 из 2")
            #expect(first.contains("picture number 6") && !first.contains("picture number 1"), "newest first: \(first)")
            let album = try #require(studio.fake.calls("sendMediaGroup").last)
            let media = try #require(album.params["media"] as? [[String: Any]])
            #expect(media.count == 5)
            #expect(album.files.isEmpty, "sent again by file id, not uploaded")
            let page = try #require(studio.fake.calls("sendMessage").last { ($0.params["text"] as? String)?.contains("страница 1 из 2") == true })
            let buttons = ((page.params["reply_markup"] as? [String: Any])?["inline_keyboard"] as? [[[String: Any]]])?.flatMap { $0 } ?? []
            let more = try #require(buttons.first?["callback_data"] as? String)
            #expect(more == "hist:5")
            studio.press(person, more)
            let second = try await studio.waitForText(person, containing: "страница 2 из 2")
            #expect(second.contains("picture number 1"), "\(second)")
            try await studio.waitFor("the sixth photo again") {
                studio.fake.calls("sendPhoto").filter { "\($0.params["chat_id"] ?? "")" == "2001" }.count == 7
            }
        }
    }
}
