import AsyncHTTPClient
import Core
import Foundation
import Logging
import Synchronization
import Telegram
import Testing

/// Long polling: one chat's updates in order, chats in parallel, and across a crash in the middle
/// no update lost or handled twice (on SQLite and PostgreSQL: the log is in the database).
@Suite("Telegram long polling", .timeLimit(.minutes(3)))
struct TelegramPollingTests {
    static func message(_ id: Int, chat: Int64, text: String) -> [String: Any] {
        let person: [String: Any] = ["id": chat, "is_bot": false, "first_name": "P\(chat)"]
        return ["message": ["message_id": id, "from": person, "chat": ["id": chat, "type": "private"], "date": 1_765_000_000, "text": text]]
    }

    static func poller(_ app: TestApp, _ fake: FakeTelegram, handle: @escaping @Sendable (Update) async -> Void) -> LongPoller {
        var settings = LongPoller.Settings()
        settings.pollTimeout = 1
        let client = BotAPIClient(baseURL: fake.baseURL, token: Secret(fake.token), http: HTTPClient.shared)
        return LongPoller(
            botID: "bot_test",
            client: client,
            log: UpdateLog(database: app.runtime.database),
            settings: settings,
            logger: Logger(label: "test"),
            handle: handle
        )
    }

    static func waitUntil(_ condition: @Sendable () -> Bool) async throws {
        for _ in 0..<1000 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        try #require(condition())
    }

    @Test("each chat's updates in order while other chats go on; every update once; the offset confirmed past them")
    func orderAndParallelism() async throws {
        let fake = try await FakeTelegram.start()
        let result = await Result {
            try await TestApp.run { app in
                for n in 0..<10 { for chat in Int64(1)...6 { fake.push(Self.message(n, chat: chat, text: "\(chat)-\(n)")) } }
                let seen = Mutex<[String]>([])
                let gate = WakeSignal()
                let poller = Self.poller(app, fake) { update in
                    let text = update.message?.text ?? "?"
                    // Chat 1's first update waits until every other chat is done: they must not wait for it.
                    if text == "1-0" { await gate.wait(timeout: .seconds(30)) }
                    seen.withLock { $0.append(text) }
                }
                let task = Task { try await poller.run() }
                try await Self.waitUntil { seen.withLock { $0.filter { !$0.hasPrefix("1-") }.count } == 50 }
                #expect(seen.withLock { $0.isEmpty == false && !$0.contains { $0.hasPrefix("1-") } }, "chat 1 waits for its first update")
                gate.signal()
                try await Self.waitUntil { seen.withLock { $0.count } == 60 }
                for chat in 1...6 {
                    let order = seen.withLock { $0.filter { $0.hasPrefix("\(chat)-") } }
                    #expect(order == (0..<10).map { "\(chat)-\($0)" }, "chat \(chat): \(order)")
                }
                try await Self.waitUntil { fake.calls("getUpdates").last?.params["offset"] as? Int == 61 }
                task.cancel()
                _ = await task.result
                #expect(try await UpdateLog(database: app.runtime.database).nextOffset(bot: "bot_test") == 61)
                #expect(seen.withLock { $0.count } == 60, "nothing handled twice")
            }
        }
        await fake.stop()
        try result.get()
    }

    @Test(
        "stopped in the middle (one chat's handler cut off): the rest waits in the inbox and runs after a restart; nothing lost, nothing handled twice"
    )
    func restartLosesNothing() async throws {
        let fake = try await FakeTelegram.start()
        let result = await Result {
            try await TestApp.run { app in
                // Interleaved so the other chats run ahead of chat 1's stuck update.
                for n in 0..<10 { for chat in Int64(1)...3 { fake.push(Self.message(n, chat: chat, text: "\(chat)-\(n)")) } }
                let completed = Mutex<[Int64: Int]>([:])
                let first = Self.poller(app, fake) { update in
                    if update.message?.text == "1-4" {
                        // Stuck until the process "dies" (its task is cancelled).
                        try? await Task.sleep(for: .seconds(600))
                        return
                    }
                    completed.withLock { $0[update.update_id, default: 0] += 1 }
                }
                let task = Task { try await first.run() }
                // Chats 2 and 3 (20) and chat 1's first 4.
                try await Self.waitUntil { completed.withLock { $0.count } == 24 }
                task.cancel()
                _ = await task.result
                let log = UpdateLog(database: app.runtime.database)
                let stuckID: Int64 = 4 * 3 + 1
                // Every update was taken from Telegram (the offset is past all 30), and the ones not
                // finished wait in the inbox: the stuck one and chat 1's later ones behind it.
                #expect(try await log.nextOffset(bot: "bot_test") == 31)
                let waiting = try await log.inbox(bot: "bot_test").map(\.update_id)
                #expect(waiting.first == stuckID, "\(waiting)")
                #expect(waiting == Array(stride(from: stuckID, through: 30, by: 3)), "chat 1's from the stuck one: \(waiting)")
                let polls = fake.calls("getUpdates").count

                let second = Self.poller(app, fake) { update in completed.withLock { $0[update.update_id, default: 0] += 1 } }
                let again = Task { try await second.run() }
                try await Self.waitUntil { completed.withLock { $0.count } == 30 }
                try await Task.sleep(for: .milliseconds(200))  // a repeat would show up by now
                again.cancel()
                _ = await again.result
                let counts = completed.withLock { $0 }
                #expect(counts.values.allSatisfy { $0 == 1 }, "handled twice: \(counts.filter { $0.value > 1 })")
                #expect(Set(counts.keys) == Set((1...30).map(Int64.init)))
                #expect(try await log.nextOffset(bot: "bot_test") == 31)
                #expect(try await log.inbox(bot: "bot_test").isEmpty)
                #expect(fake.calls("getUpdates").dropFirst(polls).allSatisfy { $0.params["offset"] as? Int == 31 }, "nothing asked again")
            }
        }
        await fake.stop()
        try result.get()
    }

    @Test("an update with a part this code cannot read is taken without that part; the updates after it still arrive")
    func unreadableUpdate() async throws {
        let fake = try await FakeTelegram.start()
        let result = await Result {
            try await TestApp.run { app in
                fake.push(Self.message(1, chat: 5, text: "before"))
                // A message whose chat is a string: not what the Bot API sends today, and not readable.
                fake.push(["message": ["message_id": 2, "chat": "five", "date": 1_765_000_000, "text": "odd"]])
                fake.push(Self.message(3, chat: 5, text: "after"))
                let seen = Mutex<[String]>([])
                let poller = Self.poller(app, fake) { update in
                    seen.withLock { $0.append(update.message?.text ?? "unreadable: \(update.unreadable.joined(separator: ","))") }
                }
                let task = Task { try await poller.run() }
                try await Self.waitUntil { seen.withLock { $0.count } == 3 }
                task.cancel()
                _ = await task.result
                // The unreadable one has no chat, so it is not ordered with chat 5's.
                #expect(seen.withLock { $0.sorted() } == ["after", "before", "unreadable: message"])
                #expect(seen.withLock { $0.firstIndex(of: "before")! < $0.firstIndex(of: "after")! })
            }
        }
        await fake.stop()
        try result.get()
    }

    @Test("intake does not wait for handlers: 1,000 updates are taken from Telegram while every handler is still busy")
    func intakeDoesNotWait() async throws {
        let fake = try await FakeTelegram.start()
        let result = await Result {
            try await TestApp.run { app in
                for n in 0..<100 { for chat in Int64(1)...10 { fake.push(Self.message(n, chat: chat, text: "\(chat)-\(n)")) } }
                let open = Mutex(false)
                let handled = Mutex<[Int64: Int]>([:])
                let poller = Self.poller(app, fake) { update in
                    // Ten chats' first handlers wait here at once.
                    while !open.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
                    handled.withLock { $0[update.update_id, default: 0] += 1 }
                }
                let task = Task { try await poller.run() }
                try await Self.waitUntil { fake.calls("getUpdates").contains { $0.params["offset"] as? Int == 1001 } }
                #expect(handled.withLock { $0.isEmpty }, "all taken in before any handler finished")
                #expect(try await UpdateLog(database: app.runtime.database).inbox(bot: "bot_test").count == 1000)
                open.withLock { $0 = true }
                try await Self.waitUntil { handled.withLock { $0.count } == 1000 }
                task.cancel()
                _ = await task.result
                #expect(handled.withLock { $0.values.allSatisfy { $0 == 1 } })
                #expect(try await UpdateLog(database: app.runtime.database).inbox(bot: "bot_test").isEmpty)
            }
        }
        await fake.stop()
        try result.get()
    }

    @Test("a bot with a webhook set, or polled elsewhere, stops with the conflict instead of spinning")
    func conflictStops() async throws {
        let fake = try await FakeTelegram.start()
        let result = await Result {
            try await TestApp.run { app in
                fake.state.withLockedValue { $0.webhook = ("https://bot.example/hook", "s") }
                let poller = Self.poller(app, fake) { _ in }
                do {
                    try await poller.run()
                    Issue.record("the poller ran on")
                } catch let error as BotAPIError {
                    guard case .conflict = error else {
                        Issue.record("\(error)")
                        return
                    }
                }
                #expect(fake.calls("getUpdates").count == 1)
            }
        }
        await fake.stop()
        try result.get()
    }
}
