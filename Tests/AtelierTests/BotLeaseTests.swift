import Core
import Foundation
import HTTPTypes
import SQLKit
import Testing

/// A bot runs in exactly one of the processes sharing a database, and moves when that process
/// stops or dies (its lease expires). On SQLite and PostgreSQL.
@Suite("Telegram bots across processes", .timeLimit(.minutes(3)))
struct BotLeaseTests {
    static func waitFor(_ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
        try await waitUntil(what, timeout: .seconds(15), condition)
    }

    static func holder(_ app: TestApp, _ id: String) async throws -> String? {
        try await app.runtime.database.sql.raw("SELECT lease_holder FROM telegram_bots WHERE id = \(bind: id)").first()?
            .decode(column: "lease_holder", as: String?.self)
    }

    @Test("two processes: one polls; when it stops, the other takes the bot over; never two pollers at once")
    func oneOfTwo() async throws {
        let fake = try await FakeTelegram.start()
        let installation = try TestApp.freshInstallation()
        let settings = ["ATELIER_TELEGRAM_API_URL": fake.baseURL, "ATELIER_BOT_LEASE_SECONDS": "2"]
        let result = await Result {
            try await TestApp.run(installation: installation, settings) { first in
                let admin = try await first.login()
                let created = try await StudioHarness.addBot(first, admin, token: fake.token)
                let id = try #require(created.json["id"] as? String)
                try await TestApp.run(installation: installation, settings) { second in
                    #expect(try await second.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
                    try await Self.waitFor("a poller") { !fake.calls("getUpdates").isEmpty }
                    let holder = try #require(try await Self.holder(first, id))
                    let runners = [first, second].filter { $0.runtime.botSupervisor.isRunningHere(id) }
                    #expect(runners.count == 1, "exactly one process runs the bot")
                    #expect(runners.first?.runtime.botSupervisor.holder == holder)
                    // Several lease periods: the other process never takes it while it is held.
                    try await Task.sleep(for: .seconds(3))
                    #expect(try await Self.holder(first, id) == holder)
                    #expect([first, second].filter { $0.runtime.botSupervisor.isRunningHere(id) }.count == 1)
                    if holder == second.runtime.botSupervisor.holder { return }
                    // The first holds it: nothing more to see until the second stops, below.
                }
                // The second process has stopped. If it held the bot, it let it go, and the first
                // takes it over within a refresh.
                try await Self.waitFor("the first process running the bot") { first.runtime.botSupervisor.isRunningHere(id) }
                #expect(try await Self.holder(first, id) == first.runtime.botSupervisor.holder)
                // The survivor polls: an update sent now is answered.
                fake.push(TelegramPollingTests.message(1, chat: 5, text: "/help"))
                try await Self.waitFor("the survivor answering") { fake.calls("sendMessage").contains { "\($0.params["chat_id"] ?? "")" == "5" } }
                // A second live poller would have had its polls ended with 409, and the bot would say so.
                let lastError = try await first.runtime.database.sql.raw("SELECT last_error FROM telegram_bots WHERE id = \(bind: id)").first()?
                    .decode(column: "last_error", as: String?.self)
                #expect(lastError == nil, "no process saw a conflict: \(lastError ?? "")")
            }
        }
        await TestDatabase.cleanUp(installation)
        await fake.stop()
        try result.get()
    }

    @Test(
        "webhook mode across processes: deliveries to an API process that runs no bots are answered by the process holding the bot, through its one limiter, each once"
    )
    func webhookToAnotherProcess() async throws {
        let fake = try await FakeTelegram.start()
        let installation = try TestApp.freshInstallation()
        let settings = ["ATELIER_TELEGRAM_API_URL": fake.baseURL, "ATELIER_PUBLIC_URL": "http://127.0.0.1:8000"]
        let result = await Result {
            try await TestApp.run(installation: installation, settings) { botProcess in
                let admin = try await botProcess.login()
                let created = try await StudioHarness.addBot(botProcess, admin, token: fake.token, name: "hook", extra: #""mode": "webhook""#)
                let id = try #require(created.json["id"] as? String)
                #expect(try await botProcess.request(.post, "/admin/telegram/bots/\(id)/start", token: admin).status == .ok)
                try await Self.waitFor("the webhook set") { fake.state.withLockedValue { $0.webhook != nil } }
                let secret = try #require(fake.state.withLockedValue { $0.webhook?.secret })
                // The API process cannot even reach Telegram: every answer must come from the bot process.
                let api = settings.merging(["ATELIER_BOTS": "false", "ATELIER_TELEGRAM_API_URL": "http://127.0.0.1:1"]) { $1 }
                try await TestApp.run(installation: installation, api) { apiProcess in
                    #expect(!apiProcess.runtime.botSupervisor.isRunningHere(id))
                    let headers: HTTPFields = [HTTPField.Name("X-Telegram-Bot-Api-Secret-Token")!: secret]
                    // Three people, four messages each, every one delivered twice (Telegram retrying).
                    for n in 0..<4 {
                        for chat in Int64(41)...43 {
                            var update = TelegramPollingTests.message(n, chat: chat, text: "/balance")
                            update["update_id"] = Int(chat) * 100 + n
                            let body = String(decoding: try JSONSerialization.data(withJSONObject: update), as: UTF8.self)
                            for _ in 0..<2 {
                                let delivered = try await apiProcess.request(.post, "/telegram/\(id)/webhook", json: body, headers: headers)
                                #expect(delivered.status == .ok, "\(delivered.detail)")
                            }
                        }
                    }
                    try await Self.waitFor("twelve answers") { fake.calls("sendMessage").count >= 12 }
                    try await Task.sleep(for: .milliseconds(600))
                    #expect(fake.calls("sendMessage").count == 12, "each update answered once")
                }
                #expect(botProcess.runtime.botSupervisor.isRunningHere(id))
                let left = try await botProcess.runtime.database.sql.raw("SELECT COUNT(*) AS n FROM telegram_inbox WHERE bot_id = \(bind: id)")
                    .first()?.decode(column: "n", as: Int.self)
                #expect(left == 0, "the inbox is empty once all are handled")
            }
        }
        await TestDatabase.cleanUp(installation)
        await fake.stop()
        try result.get()
    }

    @Test("a process that died holding the bot: its lease expires and a live process takes over")
    func deadHolder() async throws {
        try await StudioHarness.withTelegram(["ATELIER_BOT_LEASE_SECONDS": "2"]) { app, fake, admin in
            let created = try await StudioHarness.addBot(app, admin, token: fake.token)
            let id = try #require(created.json["id"] as? String)
            // As a process killed with -9 leaves it: running, held, the lease not yet expired.
            let expires = Timestamp.millis(Date()) + 1500
            try await app.runtime.database.sql.raw(
                """
                UPDATE telegram_bots SET running = 1, lease_holder = 'dead-process', lease_expires_at = \(bind: expires)
                WHERE id = \(bind: id)
                """
            ).run()
            app.runtime.botSupervisor.reload()
            try await Task.sleep(for: .milliseconds(700))
            #expect(fake.calls("getUpdates").isEmpty, "not taken while the dead process's lease lasts")
            try await Self.waitFor("the takeover") { !fake.calls("getUpdates").isEmpty }
            #expect(Timestamp.millis(Date()) >= expires)
            #expect(try await Self.holder(app, id) == app.runtime.botSupervisor.holder)
        }
    }
}
