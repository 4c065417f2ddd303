import Bots
import Core
import Foundation
import HTTPTypes
import SQLKit
import Testing

/// `/admin/telegram/bots`: the token sealed and never shown, owner isolation, clear refusals;
/// start and stop; webhook mode with its secret; one poller per bot across processes.
@Suite("Telegram bot instances", .timeLimit(.minutes(3)))
struct BotAdminTests {
    static let token = "7000000001:AAE-fake-token-for-tests_0123456789"

    @Test("the token is sealed and never echoed; another owner's bot is 404; guests read only; bad input is a 422 that says what to fix")
    func crudAndIsolation() async throws {
        try await TestApp.run { app in
            let alice = try await app.makeUser("alice")
            let bob = try await app.makeUser("bob")
            let guest = try await app.makeUser("gus", role: .guest)
            let created = try await app.request(
                .post,
                "/admin/telegram/bots",
                token: alice.token,
                json: #"{"name": "alice-bot", "token": "\#(Self.token)", "kind": "assistant"}"#
            )
            #expect(created.status == .created, "\(created.detail)")
            let body = String(buffer: created.body)
            #expect(!body.contains("AAE-fake-token"), "the token is not echoed: \(body)")
            #expect(created.json["has_token"] as? Bool == true)
            #expect(created.json["mode"] as? String == "polling")
            #expect(created.json["running"] as? Bool == false)
            let id = try #require(created.json["id"] as? String)
            let stored = try #require(
                try await app.runtime.database.sql.raw("SELECT sealed_token FROM telegram_bots WHERE id = \(bind: id)").first()?
                    .decode(column: "sealed_token", as: String.self)
            )
            #expect(!stored.contains("AAE-fake-token"), "sealed at rest")

            #expect(try await app.request(.get, "/admin/telegram/bots/\(id)", token: bob.token).status == .notFound)
            #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: bob.token).status == .notFound)
            #expect(try await app.request(.delete, "/admin/telegram/bots/\(id)", token: bob.token).status == .notFound)
            let bobsList = try await app.request(.get, "/admin/telegram/bots", token: bob.token)
            #expect((bobsList.json["items"] as? [Any])?.isEmpty == true)
            let adminList = try await app.request(.get, "/admin/telegram/bots", token: try await app.login())
            #expect((adminList.json["items"] as? [Any])?.count == 1)
            let guestCreate = try await app.request(
                .post,
                "/admin/telegram/bots",
                token: guest.token,
                json: #"{"name": "g", "token": "\#(Self.token)", "kind": "studio"}"#
            )
            #expect(guestCreate.status == .forbidden)

            let refusals: [(String, String)] = [
                (#"{"name": "x", "token": "not-a-token", "kind": "studio"}"#, "token"),
                (#"{"name": "x", "token": "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA", "kind": "shop"}"#, "kind"),
                (#"{"name": "x y", "token": "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA", "kind": "studio"}"#, "name"),
                (#"{"name": "x", "token": "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA", "kind": "studio", "mode": "push"}"#, "mode"),
                (#"{"name": "x", "token": "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA", "kind": "studio", "admin_ids": [0]}"#, "admin_ids"),
                (#"{"name": "x", "kind": "studio"}"#, "token"),
            ]
            // A studio or downloads bot acts on everyone's data and makes its admin_ids admins of it.
            let studio = try await app.request(
                .post,
                "/admin/telegram/bots",
                token: alice.token,
                json: #"{"name": "mine", "token": "1:AAAAAAAAAAAAAAAAAAAAAAAAAAA", "kind": "studio", "admin_ids": [1]}"#
            )
            #expect(studio.status == .forbidden, "\(studio.detail)")
            let admin = try await app.login()
            for (json, field) in refusals {
                let refused = try await app.request(.post, "/admin/telegram/bots", token: admin, json: json)
                #expect(refused.status == .unprocessableContent, "\(json)")
                #expect(refused.detail.hasPrefix(field), "\(json): \(refused.detail)")
            }
            let again = try await app.request(
                .post,
                "/admin/telegram/bots",
                token: bob.token,
                json: #"{"name": "bob-bot", "token": "\#(Self.token)", "kind": "assistant"}"#
            )
            #expect(again.status == .conflict, "one token, one instance: \(again.detail)")

            let changed = try await app.request(.patch, "/admin/telegram/bots/\(id)", token: alice.token, json: #"{"admin_ids": [42, 42, 7]}"#)
            #expect(changed.json["admin_ids"] as? [Int] == [7, 42])
            let kind = try await app.request(.patch, "/admin/telegram/bots/\(id)", token: alice.token, json: #"{"kind": "studio"}"#)
            #expect(kind.status == .unprocessableContent)
            #expect(try await app.request(.delete, "/admin/telegram/bots/\(id)", token: alice.token).status == .noContent)
        }
    }

    @Test("test asks Telegram who the token is; a token Telegram refuses stops the bot with the reason")
    func testAndBadToken() async throws {
        try await StudioHarness.withTelegram { app, fake, admin in
            let created = try await StudioHarness.addBot(app, admin, token: fake.token)
            let id = try #require(created.json["id"] as? String)
            let tested = try await app.request(.post, "/admin/telegram/bots/\(id)/test", token: admin)
            #expect(tested.json["ok"] as? Bool == true)
            #expect(tested.json["username"] as? String == "atelier_test_bot")
            fake.fail("getMe", status: 401, body: #"{"ok":false,"error_code":401,"description":"Unauthorized"}"#, times: 5)
            let refused = try await app.request(.post, "/admin/telegram/bots/\(id)/test", token: admin)
            #expect(refused.json["ok"] as? Bool == false)
            #expect((refused.json["detail"] as? String)?.contains("BotFather") == true)
            #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
            var bot: [String: Any] = [:]
            for _ in 0..<400 {
                bot = try await app.request(.get, "/admin/telegram/bots/\(id)", token: admin).json
                if bot["running"] as? Bool == false { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(bot["running"] as? Bool == false, "stopped: \(bot)")
            #expect((bot["last_error"] as? String)?.contains("BotFather") == true, "\(bot)")
            #expect(!String(describing: bot).contains(fake.token))
        }
    }

    @Test("a group's chat id among admin_ids gets the admin notifications, and nobody in it becomes an admin by that")
    func adminGroup() async throws {
        try await StudioHarness.withTelegram { app, fake, admin in
            let created = try await StudioHarness.addBot(app, admin, token: fake.token, extra: #""admin_ids": [900, -1001234567890]"#)
            let id = try #require(created.json["id"] as? String)
            #expect(created.json["admin_ids"] as? [Int] == [-1_001_234_567_890, 900])
            #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
            let studio = StudioHarness(app: app, fake: fake, botID: id, admin: admin)
            studio.say(31, "/start")
            try await studio.waitForText(-1_001_234_567_890, containing: "New user")
            try await studio.waitForText(900, containing: "New user")
            studio.say(31, "/admin_stats")
            try await studio.waitForText(31, containing: "только для администраторов")
        }
    }

    @Test("webhook mode: the webhook is set with a secret; a wrong secret is 401; an update delivered twice is handled once")
    func webhookMode() async throws {
        try await StudioHarness.withTelegram(["ATELIER_PUBLIC_URL": "http://127.0.0.1:8000"]) { app, fake, admin in
            let created = try await StudioHarness.addBot(app, admin, token: fake.token, name: "hook", extra: #""mode": "webhook""#)
            let id = try #require(created.json["id"] as? String)
            #expect(created.json["webhook_url"] as? String == "http://127.0.0.1:8000/telegram/\(id)/webhook")
            #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
            var webhook: (url: String, secret: String)?
            for _ in 0..<400 {
                webhook = fake.state.withLockedValue { $0.webhook }
                if webhook != nil { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            let hook = try #require(webhook)
            #expect(hook.url == "http://127.0.0.1:8000/telegram/\(id)/webhook")
            #expect(hook.secret.count >= 32)
            let update = """
                {"update_id": 77, "message": {"message_id": 1, "date": 1765000000, "text": "/help",
                 "from": {"id": 31, "is_bot": false, "first_name": "Ann", "language_code": "en"},
                 "chat": {"id": 31, "type": "private", "first_name": "Ann"}}}
                """
            let path = "/telegram/\(id)/webhook"
            let wrong = try await app.request(.post, path, json: update, headers: [HTTPField.Name("X-Telegram-Bot-Api-Secret-Token")!: "nope"])
            #expect(wrong.status == .unauthorized)
            #expect(fake.calls("sendMessage").isEmpty)
            let missing = try await app.request(.post, path, json: update)
            #expect(missing.status == .unauthorized)
            let headers: HTTPFields = [HTTPField.Name("X-Telegram-Bot-Api-Secret-Token")!: hook.secret]
            #expect(try await app.request(.post, path, json: update, headers: headers).status == .ok)
            #expect(try await app.request(.post, path, json: update, headers: headers).status == .ok)
            // The bot's runner takes it from the inbox; it leaves the inbox once handled.
            try await BotLeaseTests.waitFor("the update handled") {
                try await app.runtime.database.sql.raw("SELECT COUNT(*) AS n FROM telegram_inbox WHERE bot_id = \(bind: id)").first()?
                    .decode(column: "n", as: Int.self) == 0 && !fake.calls("sendMessage").isEmpty
            }
            #expect(fake.calls("sendMessage").count == 1, "handled once")
            #expect((fake.calls("sendMessage").first?.params["text"] as? String)?.contains("How it works") == true)
            let garbage = try await app.request(.post, path, json: #"{"nope": true}"#, headers: headers)
            #expect(garbage.status == .unprocessableContent)
            #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/stop", token: admin).status == .ok)
            #expect(fake.state.withLockedValue { $0.webhook == nil }, "stopping removes the webhook")
            #expect(try await app.request(.post, path, json: update, headers: headers).status == .notFound)

            // Removing a started webhook bot deletes its webhook and forgets its updates.
            #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
            for _ in 0..<400 where fake.state.withLockedValue({ $0.webhook == nil }) { try await Task.sleep(for: .milliseconds(25)) }
            #expect(fake.state.withLockedValue { $0.webhook != nil })
            #expect(try await app.request(.delete, "/admin/telegram/bots/\(id)", token: admin).status == .noContent)
            #expect(fake.state.withLockedValue { $0.webhook == nil })
            let remembered = try await app.runtime.database.sql.raw(
                "SELECT COUNT(*) AS n FROM telegram_handled_updates WHERE bot_id = \(bind: id)"
            ).first()?.decode(column: "n", as: Int.self)
            #expect(remembered == 0)
        }
    }

    @Test("webhook mode without ATELIER_PUBLIC_URL cannot start, and says why")
    func webhookNeedsPublicURL() async throws {
        try await TestApp.run { app in
            let admin = try await app.login()
            let created = try await app.request(
                .post,
                "/admin/telegram/bots",
                token: admin,
                json: #"{"name": "hook", "token": "\#(Self.token)", "kind": "studio", "mode": "webhook"}"#
            )
            let id = try #require(created.json["id"] as? String)
            let start = try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin)
            #expect(start.status == .unprocessableContent)
            #expect(start.detail.contains("ATELIER_PUBLIC_URL"))
        }
    }

    @Test("ATELIER_BOTS=false: the API takes the bot, this process does not run it")
    func botsOff() async throws {
        try await StudioHarness.withTelegram(["ATELIER_BOTS": "false", "ATELIER_BOT_LEASE_SECONDS": "2"]) { app, fake, admin in
            let created = try await StudioHarness.addBot(app, admin, token: fake.token)
            let id = try #require(created.json["id"] as? String)
            #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).json["running"] as? Bool == true)
            // A running supervisor starts a bot within milliseconds of the start, and looks
            // again every 0.7 s at this lease: two seconds would show one.
            try await Task.sleep(for: .seconds(2))
            #expect(fake.calls.isEmpty, "no call to Telegram: \(fake.calls.map(\.method))")
            #expect(try await app.request(.get, "/admin/telegram/bots/\(id)", token: admin).json["active"] as? Bool == false)
        }
    }

    @Test("several bots in one process: each polls its own token and answers its own people; stopping one leaves the others running")
    func severalBots() async throws {
        let suffix = String(Self.token.split(separator: ":")[1])
        let fakes = try await FakeTelegram.start(tokens: ["7000000001:\(suffix)", "7000000002:\(suffix)", "7000000003:\(suffix)"])
        let result = await Result {
            try await TestApp.run(["ATELIER_TELEGRAM_API_URL": fakes[0].baseURL]) { app in
                let admin = try await app.login()
                var ids: [String] = []
                for (n, (fake, kind)) in zip(fakes, ["studio", "studio", "downloads"]).enumerated() {
                    let created = try await StudioHarness.addBot(app, admin, token: fake.token, name: "bot-\(n)", kind: kind)
                    let id = try #require(created.json["id"] as? String, "\(created.detail)")
                    #expect(try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
                    ids.append(id)
                }
                try await waitUntil("all three polling", timeout: .seconds(20)) { fakes.allSatisfy { !$0.calls("getUpdates").isEmpty } }
                let listed = try await app.request(.get, "/admin/telegram/bots", token: admin)
                let bots = try #require(listed.json["items"] as? [[String: Any]])
                #expect(Set(bots.compactMap { $0["username"] as? String }).count == 3, "each bot is who its token says: \(bots)")

                let stopped = ids[0]
                let first = StudioHarness(app: app, fake: fakes[0], botID: ids[0], admin: admin)
                let second = StudioHarness(app: app, fake: fakes[1], botID: ids[1], admin: admin)
                first.say(11, "/start", language: "en")
                second.say(22, "/start", language: "en")
                try await first.waitForText(11, containing: "Your balance: 3 tokens")
                try await second.waitForText(22, containing: "Your balance: 3 tokens")
                #expect(first.texts(to: 22).isEmpty && second.texts(to: 11).isEmpty, "each answers through its own token")
                #expect(fakes[2].calls("sendMessage").isEmpty)

                #expect(try await app.request(.post, "/admin/telegram/bots/\(ids[0])/stop", token: admin).status == .ok)
                try await waitUntil("the first bot stopped", timeout: .seconds(20)) {
                    try await app.request(.get, "/admin/telegram/bots/\(stopped)", token: admin).json["active"] as? Bool == false
                }
                first.say(11, "/balance", language: "en")
                second.say(22, "/balance", language: "en")
                try await second.waitForText(22, containing: "Your balance: 3")
                try await Task.sleep(for: .seconds(1))
                #expect(!first.texts(to: 11).contains { $0.hasPrefix("Your balance") }, "a stopped bot answers nothing")
            }
        }
        await FakeTelegram.stop(all: fakes)
        try result.get()
    }
}
