import AsyncHTTPClient
import Core
import Foundation
import Telegram
import Testing

/// The Bot API client against the fake Bot API server: what it sends, what it reads back, and
/// every refusal typed.
@Suite("Telegram Bot API client", .timeLimit(.minutes(2)))
struct TelegramClientTests {
    static func withFake(_ body: @Sendable (FakeTelegram, BotAPIClient) async throws -> Void) async throws {
        let fake = try await FakeTelegram.start()
        let client = BotAPIClient(baseURL: fake.baseURL + "/", token: Secret(fake.token), http: HTTPClient.shared)
        let result = await Result { try await body(fake, client) }
        await fake.stop()
        try result.get()
    }

    @Test("getMe, sendMessage with HTML and buttons, edits, deletes, actions and callback answers send the Bot API's fields")
    func messages() async throws {
        try await Self.withFake { fake, client in
            let me = try await client.getMe()
            #expect(me.is_bot && me.username == "atelier_test_bot")
            let markup = InlineKeyboardMarkup([[InlineKeyboardButton(text: "Buy 100", callback_data: "buy:100")]])
            let sent = try await client.sendMessage(chatID: 42, text: "Hi \(TelegramHTML.escape("<Ann & co>"))", replyMarkup: markup)
            #expect(sent.chat.id == 42 && sent.text == "Hi &lt;Ann &amp; co&gt;")
            let params = try #require(fake.calls("sendMessage").first).params
            #expect(params["parse_mode"] as? String == "HTML")
            #expect(
                ((params["reply_markup"] as? [String: Any])?["inline_keyboard"] as? [[[String: Any]]])?.first?.first?["callback_data"] as? String
                    == "buy:100"
            )
            #expect(params["reply_parameters"] == nil, "nil parameters are not sent")

            try await client.editMessageText(chatID: 42, messageID: sent.message_id, text: "50 %")
            try await client.editMessageReplyMarkup(chatID: 42, messageID: sent.message_id, replyMarkup: nil)
            try await client.deleteMessage(chatID: 42, messageID: sent.message_id)
            try await client.sendChatAction(chatID: 42, action: "upload_photo")
            try await client.answerCallbackQuery(id: "cb-1", text: "Done")
            try await client.setMyCommands([BotCommand("start", "Start"), BotCommand("balance", "Tokens left")], languageCode: "en")
            #expect(fake.calls("editMessageText").first?.params["message_id"] as? Int == Int(sent.message_id))
            #expect(fake.calls("sendChatAction").first?.params["action"] as? String == "upload_photo")
            #expect((fake.calls("setMyCommands").first?.params["commands"] as? [[String: Any]])?.count == 2)
        }
    }

    @Test(
        "every refusal is typed: flood control with retry_after, a migrated group, a blocked person, an unknown chat, a bad token, a second poller, a proxy's page"
    )
    func typedErrors() async throws {
        try await Self.withFake { fake, client in
            fake.floodControl("sendMessage", retryAfter: 7)
            await #expect(throws: BotAPIError.retryAfter(seconds: 7, description: "Too Many Requests: retry after 7")) {
                _ = try await client.sendMessage(chatID: 1, text: "x")
            }
            await #expect(
                throws: BotAPIError.migrated(toChatID: -1_001_234_567_890, description: "Bad Request: group chat was upgraded to a supergroup chat")
            ) {
                _ = try await client.sendMessage(chatID: -1_000, text: "x")
            }
            fake.state.withLockedValue { _ = $0.blocked.insert(99) }
            await #expect(throws: BotAPIError.blocked(description: "Forbidden: bot was blocked by the user")) {
                _ = try await client.sendMessage(chatID: 99, text: "x")
            }
            await #expect(throws: BotAPIError.chatNotFound(description: "Bad Request: chat not found")) {
                _ = try await client.sendMessage(chatID: 404, text: "x")
            }
            await #expect(throws: BotAPIError.refused(code: 400, description: "Bad Request: message text is empty")) {
                _ = try await client.sendMessage(chatID: 1, text: "")
            }
            try await client.setWebhook(url: "https://bot.example/telegram/1/webhook", secretToken: "s3cret")
            await #expect(throws: BotAPIError.self) { _ = try await client.getUpdates(offset: nil, timeout: 0) }
            do {
                _ = try await client.getUpdates(offset: nil, timeout: 0)
            } catch let error as BotAPIError {
                guard case .conflict = error else {
                    Issue.record("expected conflict, got \(error)")
                    return
                }
            }
            fake.fail("getMe", status: 502, body: "<html><body>502 Bad Gateway</body></html>")
            do {
                _ = try await client.getMe()
                Issue.record("a proxy's page was read as an answer")
            } catch let error as BotAPIError {
                #expect(error == .refused(code: 502, description: "HTTP 502"))
            }
            let wrong = BotAPIClient(baseURL: fake.baseURL, token: Secret("123:wrong-token"), http: HTTPClient.shared)
            await #expect(throws: BotAPIError.badToken) { _ = try await wrong.getMe() }
            // Nothing a caller can print holds the token.
            var closed = BotAPIClient(baseURL: "http://127.0.0.1:9", token: Secret(fake.token), http: HTTPClient.shared)
            // AsyncHTTPClient retries a refused connect until the deadline.
            closed.timeout = .seconds(1)
            do {
                _ = try await closed.getMe()
            } catch {
                #expect(!"\(error)".contains(fake.token))
                #expect("\(error)".contains("connection refused"), "\(error)")
            }
            #expect(!"\(BotAPIError.badToken)".contains(fake.token))
        }
    }

    @Test("photos and documents are uploaded as multipart once, then sent again by file_id; albums attach uploads by name")
    func uploads() async throws {
        try await Self.withFake { fake, client in
            let png = FakeGPU.png
            let first = try await client.sendPhoto(
                chatID: 5,
                photo: .upload(filename: "result.png", contentType: "image/png", data: png),
                caption: "a <b>fox</b>"
            )
            let upload = try #require(fake.calls("sendPhoto").first)
            #expect(upload.contentType.hasPrefix("multipart/form-data; boundary="))
            #expect(upload.files["photo"] == png)
            #expect(upload.params["chat_id"] as? String == "5" && upload.params["caption"] as? String == "a <b>fox</b>")
            let fileID = try #require(first.photo?.last?.file_id)

            _ = try await client.sendPhoto(chatID: 6, photo: .fileID(fileID))
            let again = try #require(fake.calls("sendPhoto").last)
            #expect(again.contentType == "application/json" && again.files.isEmpty)
            #expect(again.params["photo"] as? String == fileID)

            let document = try await client.sendDocument(
                chatID: 5,
                document: .upload(filename: "a.zip", contentType: "application/zip", data: Data("zip".utf8))
            )
            #expect(document.document?.file_size == 3)

            let album = try await client.sendMediaGroup(
                chatID: 5,
                photos: [
                    InputMediaPhoto(.upload(filename: "1.png", contentType: "image/png", data: png), caption: "first"),
                    InputMediaPhoto(.fileID(fileID)),
                    InputMediaPhoto(.upload(filename: "3.png", contentType: "image/png", data: Data(png.reversed()))),
                ]
            )
            #expect(album.count == 3 && Set(album.compactMap(\.media_group_id)).count == 1)
            let albumCall = try #require(fake.calls("sendMediaGroup").first)
            #expect(albumCall.files.keys.sorted() == ["photo0", "photo2"])
            let media = try #require(albumCall.params["media"] as? [[String: Any]])
            #expect(media.map { $0["media"] as? String } == ["attach://photo0", fileID, "attach://photo2"])
        }
    }

    @Test("getFile gives a path the file is downloaded from; a path that leaves the folder is refused")
    func files() async throws {
        try await Self.withFake { fake, client in
            let bytes = Data((0..<5000).map { UInt8($0 % 251) })
            fake.addFile(bytes, id: "AgADselfie1", path: "photos/file_7.jpg")
            let file = try await client.getFile(fileID: "AgADselfie1")
            #expect(file.file_size == 5000)
            let path = try #require(file.file_path)
            #expect(try await client.download(filePath: path) == bytes)
            await #expect(throws: BotAPIError.self) { _ = try await client.download(filePath: "../../etc/passwd") }
            await #expect(throws: BotAPIError.self) { _ = try await client.download(filePath: path, maxBytes: 100) }
        }
    }

    @Test("Stars payments: an XTR invoice, an invoice link, the pre-checkout answer and a refund")
    func payments() async throws {
        try await Self.withFake { fake, client in
            let prices = [LabeledPrice(label: "100 tokens", amount: 50)]
            let invoice = try await client.sendInvoice(
                chatID: 5,
                title: "100 tokens",
                description: "For 20 photos",
                payload: "order:ord_1",
                prices: prices
            )
            #expect(invoice.chat.id == 5)
            let sent = try #require(fake.calls("sendInvoice").first).params
            #expect(sent["currency"] as? String == "XTR" && sent["provider_token"] as? String == "" && sent["payload"] as? String == "order:ord_1")
            #expect((sent["prices"] as? [[String: Any]])?.first?["amount"] as? Int == 50)
            let link = try await client.createInvoiceLink(title: "100 tokens", description: "For 20 photos", payload: "order:ord_2", prices: prices)
            #expect(link.hasPrefix("https://t.me/$"))
            try await client.answerPreCheckoutQuery(id: "pcq-1", ok: false, errorMessage: "This package is no longer sold")
            let answer = try #require(fake.calls("answerPreCheckoutQuery").first).params
            #expect(answer["ok"] as? Bool == false && answer["error_message"] as? String == "This package is no longer sold")
            try await client.refundStarPayment(userID: 5, telegramPaymentChargeID: "stxCHARGE1")
            #expect(fake.calls("refundStarPayment").first?.params["telegram_payment_charge_id"] as? String == "stxCHARGE1")
        }
    }

    @Test("getUpdates reads updates after the offset, typed; webhooks are set with a secret token and deleted")
    func updates() async throws {
        try await Self.withFake { fake, client in
            let person: [String: Any] = ["id": 5, "is_bot": false, "first_name": "Ann", "language_code": "ru"]
            fake.push([
                "message": [
                    "message_id": 1, "from": person, "chat": ["id": 5, "type": "private", "first_name": "Ann"], "date": 1_765_000_000,
                    "text": "/start ref_AB12",
                ]
            ])
            fake.push(["callback_query": ["id": "cb-9", "from": person, "data": "buy:100", "chat_instance": "1"]])
            fake.push([
                "pre_checkout_query": ["id": "pcq-2", "from": person, "currency": "XTR", "total_amount": 50, "invoice_payload": "order:ord_1"]
            ])
            fake.push([
                "message": [
                    "message_id": 2, "from": person, "chat": ["id": 5, "type": "private"], "date": 1_765_000_001,
                    "successful_payment": [
                        "currency": "XTR", "total_amount": 50, "invoice_payload": "order:ord_1", "telegram_payment_charge_id": "stxA1",
                        "provider_payment_charge_id": "",
                    ],
                ]
            ])
            let all = try await client.getUpdates(offset: nil, timeout: 0)
            #expect(all.map(\.update_id) == [1, 2, 3, 4])
            #expect(all[0].message?.text == "/start ref_AB12" && all[0].message?.from?.language_code == "ru")
            #expect(all[1].callback_query?.data == "buy:100")
            #expect(all[2].pre_checkout_query?.total_amount == 50 && all[2].chatID == nil, "answered outside the chat's queue")
            #expect(all[3].message?.successful_payment?.telegram_payment_charge_id == "stxA1")
            let rest = try await client.getUpdates(offset: 3, timeout: 0)
            #expect(rest.map(\.update_id) == [3, 4])
            #expect(fake.calls("getUpdates").last?.params["offset"] as? Int == 3)

            try await client.setWebhook(url: "https://bot.example/telegram/bot_1/webhook", secretToken: "s3cret", allowedUpdates: ["message"])
            #expect(fake.state.withLockedValue { $0.webhook?.secret } == "s3cret")
            try await client.deleteWebhook()
            #expect(fake.state.withLockedValue { $0.webhook == nil })
        }
    }

    @Test("HTML escaping keeps people's text literal")
    func html() {
        #expect(TelegramHTML.escape(#"<script>"a" & 'b'</script>"#) == "&lt;script&gt;&quot;a&quot; &amp; 'b'&lt;/script&gt;")
        #expect(TelegramHTML.bold("1 < 2") == "<b>1 &lt; 2</b>")
        #expect(TelegramHTML.link("site", url: "https://x.example/?a=1&b=2") == #"<a href="https://x.example/?a=1&amp;b=2">site</a>"#)
    }
}
