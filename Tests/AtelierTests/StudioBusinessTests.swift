import Core
import Foundation
import Hub
import SQLKit
import Testing

/// Seed 002's business in one run, as a new customer and the owner live it: a person invited by
/// a friend's link, with no tokens, pays with Stars (the friend gets a bonus), picks a catalog style in /models and watches the status message move
/// through the queue to the photo, finds it in /history, trains a LoRA from a zip, gets a photo with it; the owner sees
/// the day's revenue, the payment and the models, hides a style, blocks and unblocks the person.
/// On SQLite and PostgreSQL.
@Suite("Studio bot: the business end to end", .timeLimit(.minutes(4)))
struct StudioBusinessTests {
    @Test(
        "by referral, no tokens → Stars → a catalog style with queue and progress edits → /history → a LoRA from a zip → its photo → the owner's figures, models, block"
    )
    func business() async throws {
        let lora = safetensorsContent(size: 30_000, seed: 5)
        let replicate = try await FakeReplicateTrainings.start(lora: lora)
        var settings = StudioTrainingTests.settings(replicate)
        settings["ATELIER_STUDIO_WELCOME_TOKENS"] = "0"
        settings["ATELIER_MOCK_DELAY_MS"] = "2500"
        settings["ATELIER_GENERATIONS_PER_HOUR"] = "0"
        let result = await Result {
            try await StudioHarness.run(settings) { studio in
                let person: Int64 = 4242
                let owner: Int64 = 900
                let watercolor = try await Self.catalogLora(studio, key: "watercolor-v2", name: "Watercolor")

                // Invited by a friend's link.
                let friend: Int64 = 4241
                studio.say(friend, "/start", language: "en")
                try await studio.waitForText(friend, containing: "Your balance: 0 tokens")
                let code = try await studio.referralCode(of: friend)
                studio.say(person, "/start ref_\(code)", language: "en")
                try await studio.waitForText(person, containing: "Your balance: 0 tokens")
                studio.say(person, "a lighthouse at dawn", language: "en")
                try await studio.waitForText(person, containing: "Not enough tokens: this needs 1 and 0 are left. Buy more: /buy")

                // Stars: invoice, pre-checkout, the payment.
                studio.press(person, "buy:stars:start", language: "en")
                try await studio.waitFor("the invoice") { !studio.fake.calls("sendInvoice").isEmpty }
                let payload = try #require(studio.fake.calls("sendInvoice").first?.params["payload"] as? String)
                studio.fake.push([
                    "pre_checkout_query": [
                        "id": "pcq-business", "from": StudioHarness.person(person, language: "en"), "currency": "XTR", "total_amount": 50,
                        "invoice_payload": payload,
                    ]
                ])
                try await studio.waitFor("the pre-checkout answer") { !studio.fake.calls("answerPreCheckoutQuery").isEmpty }
                studio.send(
                    person,
                    [
                        "successful_payment": [
                            "currency": "XTR", "total_amount": 50, "invoice_payload": payload, "telegram_payment_charge_id": "stxBUSINESS1",
                            "provider_payment_charge_id": "",
                        ]
                    ],
                    language: "en"
                )
                try await studio.waitForText(person, containing: "Payment received: +10 tokens. Your balance: 10 tokens")
                try await studio.waitFor("the friend's bonus") {
                    try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = \(friend)") == 1
                }

                // /models offers the catalog's LoRA; pressing it picks it.
                studio.say(person, "/models", language: "en")
                let menu = try await Self.styleMenu(studio, person, after: 0)
                let button = try #require(menu.first { $0.text.contains("Watercolor") }, "\(menu)")
                studio.press(person, button.data, language: "en")
                try await studio.waitFor("the style chosen") { Self.answered(studio, "Style set: Watercolor") }

                // Ten jobs from the API fill the mock worker's four slots twice and wait, so the
                // lighthouse is queued for two 2.5 s rounds and drawn for one (six jobs at 1.5 s, one
                // short round, a busy CI machine's 700 ms polls once missed): the status message
                // shows the queue, then the drawing, then the photo replaces it.
                for n in 1...10 { _ = try await BackendTests.submit(studio.app, studio.admin, #"{"prompt": "filler \#(n)"}"#) }
                studio.say(person, "a lighthouse at dawn", language: "en")
                try await studio.waitForText(person, containing: "Queued: \"a lighthouse at dawn\"")
                try await studio.waitFor("a queue position, then the drawing, in the one status message") {
                    let edits = studio.edits(to: person)
                    return edits.contains { $0.contains("ahead of you\nStyle: Watercolor") } && edits.contains { $0.hasPrefix("🎨 Drawing…") }
                }
                try await studio.waitFor("the photo") { studio.photos(to: person) == 1 }
                #expect(
                    try await studio.number("SELECT COUNT(*) AS n FROM jobs WHERE params LIKE '%\(watercolor)%'") == 1,
                    "the job used the catalog LoRA"
                )
                try await studio.waitFor("the status message removed") { !studio.fake.calls("deleteMessage").isEmpty }

                studio.say(person, "/history", language: "en")
                try await studio.waitForText(person, containing: "page 1 of 1")
                try await studio.waitFor("the history photo, by its file id") { studio.photos(to: person) == 2 }
                #expect(studio.fake.calls("sendPhoto").last?.files.isEmpty == true)

                // /train from a zip: a broken one is refused at once, a real one is counted.
                studio.say(person, "/train", language: "en")
                try await studio.waitForText(person, containing: "Send 10–20 photos")
                studio.fake.addFile(Data("this is not a zip".utf8), id: "BQACAgIAAxkBAAIbroken", path: "documents/broken.zip")
                studio.send(person, ["document": Self.document("BQACAgIAAxkBAAIbroken", name: "broken.zip", size: 17)], language: "en")
                try await studio.waitForText(person, containing: "The archive could not be read: not a zip archive")
                // The reason is in the person's language too, not only the sentence around it.
                studio.send(person, ["document": Self.document("BQACAgIAAxkBAAIbroken", name: "broken.zip", size: 17)], language: "ru")
                try await studio.waitForText(person, containing: "Не удалось прочитать архив: это не zip-архив")
                var archive = ZipArchive()
                for n in 1...12 { archive.add(name: "me/photo_\(n).jpg", contents: Data("jpeg \(n)".utf8)) }
                archive.add(name: "__MACOSX/me/._photo_1.jpg", contents: Data("resource fork".utf8))
                archive.add(name: "me/notes.txt", contents: Data("not a photo".utf8))
                let zip = archive.finish()
                studio.fake.addFile(zip, id: "BQACAgIAAxkBAAIzip", path: "documents/me.zip")
                studio.send(person, ["document": Self.document("BQACAgIAAxkBAAIzip", name: "me.zip", size: zip.count)], language: "en")
                try await studio.waitForText(person, containing: "Archive received: 12 photos. When ready, send /train_start.")
                studio.say(person, "/train_start", language: "en")
                try await studio.waitForText(person, containing: "has started (5 tokens)")
                #expect(replicate.state.withLockedValue { $0.uploads.values.first } == zip, "the person's zip as it was")
                try await studio.waitForText(person, containing: "is ready")
                try await studio.waitForText(owner, containing: "Training done")

                // The trained LoRA, picked in /models, makes the next photo.
                let sent = studio.texts(to: person).count
                studio.say(person, "/models", language: "en")
                let own = try #require(try await Self.styleMenu(studio, person, after: sent).first { $0.data.hasPrefix("st:own:") })
                studio.press(person, own.data, language: "en")
                try await studio.waitFor("the own model chosen") { Self.answered(studio, "Style set: Person 4242 1") }
                studio.say(person, "me as a lighthouse keeper", language: "en")
                try await studio.waitFor("the second photo") { studio.photos(to: person) == 3 }
                let trained = try #require(
                    try await studio.app.runtime.database.sql.raw("SELECT version FROM \"Model\" WHERE user_id = \(bind: person)").first()?
                        .decode(column: "version", as: String.self)
                )
                #expect(try await studio.number("SELECT COUNT(*) AS n FROM jobs WHERE params LIKE '%\(trained)%'") == 1)
                try await studio.waitFor("both photos paid for") {
                    try await studio.number("SELECT tokens_spent AS n FROM \"User\" WHERE user_id = \(person)") == 7
                }
                #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = \(person)") == 3, "10 - 1 - 5 - 1")

                // The owner's side.
                studio.say(owner, "/admin_stats")
                let stats = try await studio.waitForText(owner, containing: "Revenue, last 7 days")
                #expect(stats.contains("People: 2 (active today 2"), "\(stats)")
                #expect(stats.contains("Images: 2 (today 2), failed 0"), "\(stats)")
                #expect(stats.contains("\(Self.today()): 50 ⭐ (1)"), "revenue per day: \(stats)")
                studio.say(owner, "/admin_payments")
                let payments = try await studio.waitForText(owner, containing: "<b>Payments</b>")
                #expect(payments.contains("user \(person): 50 ⭐, 10 tokens, paid"), "\(payments)")
                #expect(payments.contains("<code>stxBUSINESS1</code>"), "the charge id /admin_refund takes: \(payments)")
                studio.say(owner, "/admin_models")
                let models = try await studio.waitForText(owner, containing: "<b>Styles</b>")
                #expect(models.contains("<code>watercolor-v2</code> Watercolor (lora)"), "\(models)")
                #expect(models.contains("Person 4242 1 — ready, user \(person)"), "\(models)")

                // Hidden from /models, offered again.
                studio.say(owner, "/admin_models hide watercolor-v2")
                try await studio.waitForText(owner, containing: "Watercolor is hidden from /models.")
                var seen = studio.texts(to: person).count
                studio.say(person, "/models", language: "en")
                #expect(try await Self.styleMenu(studio, person, after: seen).contains { $0.text.contains("Watercolor") } == false)
                studio.say(owner, "/admin_models show watercolor-v2")
                try await studio.waitForText(owner, containing: "Watercolor is offered again in /models.")
                seen = studio.texts(to: person).count
                studio.say(person, "/models", language: "en")
                #expect(try await Self.styleMenu(studio, person, after: seen).contains { $0.text.contains("Watercolor") })
                studio.say(owner, "/admin_models hide no-such-style")
                try await studio.waitForText(owner, containing: "Usage: /admin_models hide NAME")

                // Blocked: nothing is drawn or charged; unblocked: back to normal.
                studio.say(owner, "/admin_users block \(person)")
                try await studio.waitForText(owner, containing: "User \(person) blocked.")
                studio.say(person, "a red boat", language: "en")
                try await studio.waitForText(person, containing: "Your access to this bot is suspended.")
                studio.say(owner, "/admin_users unblock \(person)")
                try await studio.waitForText(owner, containing: "User \(person) unblocked.")
                studio.say(person, "a blue boat", language: "en")
                try await studio.waitFor("the photo after the unblock") { studio.photos(to: person) == 4 }
                #expect(try await studio.number("SELECT COUNT(*) AS n FROM \"Generation\" WHERE prompt_text = 'a red boat'") == 0)
                try await studio.waitFor("the third photo paid for") {
                    try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = \(person)") == 2
                }
            }
        }
        await replicate.stop()
        try result.get()
    }

    @Test("a zip with too few photos is refused with the count, and nothing is kept for the training")
    func zipWithTooFewPhotos() async throws {
        let replicate = try await FakeReplicateTrainings.start(lora: safetensorsContent(size: 1_000, seed: 1))
        let result = await Result {
            try await StudioHarness.run(StudioTrainingTests.settings(replicate)) { studio in
                studio.say(5, "/start", language: "en")
                try await studio.waitForText(5, containing: "Your balance: 20 tokens")
                studio.say(5, "/train", language: "en")
                try await studio.waitForText(5, containing: "Send 10–20 photos")
                var archive = ZipArchive()
                for n in 1...3 { archive.add(name: "photo_\(n).png", contents: Data("png \(n)".utf8)) }
                let zip = archive.finish()
                studio.fake.addFile(zip, id: "BQACAgIAAxkBAAIsmall", path: "documents/small.zip")
                studio.send(5, ["document": Self.document("BQACAgIAAxkBAAIsmall", name: "small.zip", size: zip.count)], language: "en")
                try await studio.waitForText(5, containing: "The archive holds 3 photos (JPEG, PNG or WebP); 10–20 are needed.")
                studio.send(5, ["document": Self.document("BQACAgIAAxkBAAIhuge", name: "huge.zip", size: 30 << 20)], language: "en")
                try await studio.waitForText(5, containing: "The archive is over 20 MB")
                studio.say(5, "/train_start", language: "en")
                try await studio.waitForText(5, containing: "At least 10 photos are needed; you sent 0")
                #expect(replicate.state.withLockedValue { $0.trainings.isEmpty })
                #expect(try await studio.number("SELECT tokens_left AS n FROM \"User\" WHERE user_id = 5") == 20)
            }
        }
        await replicate.stop()
        try result.get()
    }

    // MARK: - Helpers

    /// A LoRA file in the catalog, as the hub installs one; returns its key.
    static func catalogLora(_ studio: StudioHarness, key: String, name: String) async throws -> String {
        let folder = try studio.app.runtime.hub.layout(nil).folder(for: .lora)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/\(key).safetensors"
        let content = safetensorsContent(size: 20_000, seed: 3)
        try content.write(to: URL(fileURLWithPath: path))
        let entry = CatalogEntry.local(
            key: key,
            name: name,
            kind: .lora,
            path: path,
            defaultWeight: 0.8,
            sizeBytes: Int64(content.count),
            source: "civitai:1234",
            now: Timestamp.millis(Date())
        )
        try await studio.app.runtime.hub.catalog.upsert(entry)
        return key
    }

    /// The buttons of the first /models menu sent to `chat` after its first `after` messages.
    static func styleMenu(_ studio: StudioHarness, _ chat: Int64, after: Int) async throws -> [(text: String, data: String)] {
        try await studio.waitFor("the /models menu") {
            studio.texts(to: chat).dropFirst(after).contains { $0.contains("Styles") || $0.contains("styles") }
        }
        let menus = studio.fake.calls("sendMessage").filter { Int64("\($0.params["chat_id"] ?? "")") == chat }.dropFirst(after)
        let call = try #require(
            menus.first { $0.params["reply_markup"] != nil && ($0.params["text"] as? String)?.lowercased().contains("styles") == true }
        )
        let markup = try #require(call.params["reply_markup"] as? [String: Any])
        let rows = try #require(markup["inline_keyboard"] as? [[[String: Any]]])
        return rows.flatMap { $0 }.compactMap { button in
            guard let text = button["text"] as? String, let data = button["callback_data"] as? String else { return nil }
            return (text, data)
        }
    }

    /// Today in UTC as the figures name days.
    static func today() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date())
    }

    static func answered(_ studio: StudioHarness, _ text: String) -> Bool {
        studio.fake.calls("answerCallbackQuery").contains { ($0.params["text"] as? String)?.contains(text) == true }
    }

    static func document(_ id: String, name: String, size: Int) -> [String: Any] {
        ["file_id": id, "file_unique_id": "u-\(id)", "file_name": name, "mime_type": "application/zip", "file_size": size]
    }
}

extension StudioHarness {
    /// Photos the bot sent to `chat` (uploads and file ids).
    func photos(to chat: Int64) -> Int {
        fake.calls("sendPhoto").filter { Int64("\($0.params["chat_id"] ?? "")") == chat }.count
    }
}
