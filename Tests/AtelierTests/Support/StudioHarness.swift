import Foundation
import HTTPTypes
import HummingbirdTesting
import SQLKit
import Testing

/// An Atelier with a studio bot started against a fake Bot API, and the things a test does as
/// Telegram: push a person's message, a button press, a payment; wait for the bot's answers.
struct StudioHarness {
    let app: TestApp
    let fake: FakeTelegram
    let botID: String
    let admin: String

    /// Runs `body` with a started studio bot whose admin is Telegram user `adminID`.
    static func run(
        _ settings: [String: String] = [:],
        adminID: Int64 = 900,
        _ body: @Sendable (StudioHarness) async throws -> Void
    ) async throws {
        let fake = try await FakeTelegram.start()
        let result = await Result {
            var values = ["ATELIER_TELEGRAM_API_URL": fake.baseURL]
            values.merge(settings) { $1 }
            try await TestApp.run(values) { app in
                let admin = try await app.login()
                let created = try await app.request(
                    .post,
                    "/admin/telegram/bots",
                    token: admin,
                    json: #"{"name": "studio", "token": "\#(fake.token)", "kind": "studio", "admin_ids": [\#(adminID)]}"#
                )
                try #require(created.status == .created, "\(created.detail)")
                let id = try #require(created.json["id"] as? String)
                let started = try await app.request(.post, "/admin/telegram/bots/\(id)/start", token: admin)
                try #require(started.status == .ok, "\(started.detail)")
                let harness = StudioHarness(app: app, fake: fake, botID: id, admin: admin)
                // Started: the bot asked Telegram who it is and set its commands.
                try await harness.waitFor { fake.calls("setMyCommands").count >= 2 }
                try await body(harness)
            }
        }
        await fake.stop()
        try result.get()
    }

    /// An app whose Bot API is a fake, with an admin's token: for tests that add bots themselves.
    static func withTelegram(
        _ settings: [String: String] = [:],
        _ body: @Sendable (_ app: TestApp, _ fake: FakeTelegram, _ admin: String) async throws -> Void
    ) async throws {
        let fake = try await FakeTelegram.start()
        let result = await Result {
            var values = ["ATELIER_TELEGRAM_API_URL": fake.baseURL]
            values.merge(settings) { $1 }
            try await TestApp.run(values) { app in try await body(app, fake, try await app.login()) }
        }
        await fake.stop()
        try result.get()
    }

    /// Adds a bot through the API (`extra` is more JSON fields, e.g. `"mode": "webhook"`) and
    /// returns the answer.
    static func addBot(
        _ app: TestApp,
        _ admin: String,
        token: String,
        name: String = "b",
        kind: String = "studio",
        extra: String = ""
    ) async throws
        -> TestResponse
    {
        try await app.request(
            .post,
            "/admin/telegram/bots",
            token: admin,
            json: #"{"name": "\#(name)", "token": "\#(token)", "kind": "\#(kind)"\#(extra.isEmpty ? "" : ", " + extra)}"#
        )
    }

    static func person(_ id: Int64, language: String = "ru", username: String? = nil) -> [String: Any] {
        var person: [String: Any] = ["id": id, "is_bot": false, "first_name": "Person \(id)", "language_code": language]
        if let username { person["username"] = username }
        return person
    }

    /// A text message from `user` in their private chat.
    @discardableResult
    func say(_ user: Int64, _ text: String, language: String = "ru") -> Int64 {
        var message: [String: Any] = [
            "message_id": Int.random(in: 1...1_000_000), "from": Self.person(user, language: language),
            "chat": ["id": user, "type": "private", "first_name": "Person \(user)"], "date": Int(Date().timeIntervalSince1970), "text": text,
        ]
        if text.hasPrefix("/") {
            let length = text.split(separator: " ").first.map { $0.utf16.count } ?? 0
            message["entities"] = [["type": "bot_command", "offset": 0, "length": length]]
        }
        return fake.push(["message": message])
    }

    /// Any message from `user` (payments, photos) with `fields` merged in.
    @discardableResult
    func send(_ user: Int64, _ fields: [String: Any], language: String = "ru") -> Int64 {
        var message: [String: Any] = [
            "message_id": Int.random(in: 1...1_000_000), "from": Self.person(user, language: language),
            "chat": ["id": user, "type": "private", "first_name": "Person \(user)"], "date": Int(Date().timeIntervalSince1970),
        ]
        message.merge(fields) { $1 }
        return fake.push(["message": message])
    }

    /// A press of an inline button with `data` under a message of the bot in `user`'s chat.
    @discardableResult
    func press(_ user: Int64, _ data: String, language: String = "ru") -> Int64 {
        fake.push([
            "callback_query": [
                "id": "cb\(Int.random(in: 1...1_000_000))", "from": Self.person(user, language: language), "data": data,
                "chat_instance": "1",
                "message": [
                    "message_id": 5, "date": Int(Date().timeIntervalSince1970), "chat": ["id": user, "type": "private", "first_name": "P"],
                    "text": "menu",
                ],
            ]
        ])
    }

    /// Texts the bot sent to `chat` with sendMessage, in order.
    func texts(to chat: Int64) -> [String] {
        fake.calls("sendMessage").filter { Int64("\($0.params["chat_id"] ?? "")") == chat }.compactMap { $0.params["text"] as? String }
    }

    /// Texts the bot edited messages in `chat` to, in order.
    func edits(to chat: Int64) -> [String] {
        fake.calls("editMessageText").filter { Int64("\($0.params["chat_id"] ?? "")") == chat }.compactMap { $0.params["text"] as? String }
    }

    func waitFor(_ what: String = "condition", timeout: Duration = .seconds(20), _ condition: @Sendable () async throws -> Bool) async throws {
        try await waitUntil(what, timeout: timeout, condition)
    }

    /// Waits until the bot has sent `chat` a message containing `fragment`, and returns it.
    @discardableResult
    func waitForText(_ chat: Int64, containing fragment: String) async throws -> String {
        try await waitFor("a message to \(chat) containing '\(fragment)'; got \(texts(to: chat))") {
            texts(to: chat).contains { $0.contains(fragment) }
        }
        return texts(to: chat).last { $0.contains(fragment) } ?? ""
    }

    /// The code of `user`'s invitation link (`/start ref_CODE`).
    func referralCode(of user: Int64) async throws -> String {
        try #require(
            try await app.runtime.database.sql.raw("SELECT referral_code FROM \"User\" WHERE user_id = \(bind: user)").first()?
                .decode(column: "referral_code", as: String.self)
        )
    }

    /// One integer column of a seed-002 table row.
    func number(_ sql: String) async throws -> Int64? {
        try await app.runtime.database.sql.raw(SQLQueryString(sql)).first()?.decode(column: "n", as: Int64.self)
    }
}
