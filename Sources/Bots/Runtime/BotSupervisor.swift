import Core
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Telegram

/// Runs the bots an admin started, in the process that holds each one's lease: every few
/// seconds it reads the table, takes or renews leases, starts what it newly holds (a poller or
/// the webhook, plus the behavior's background work) and stops what it no longer holds or what
/// was stopped or changed. With several processes on one PostgreSQL each bot runs in exactly one;
/// when that process dies its lease expires and another takes the bot over.
package final class BotSupervisor: Service, Sendable {
    struct Running: Sendable {
        var updatedAt: Int64
        var task: Task<Void, Never>
    }

    let platform: BotPlatform
    /// This process, as the lease names it.
    package let holder: String
    let logger: Logger
    private let running = Mutex<[String: Running]>([:])
    private let stopping = Atomic<Bool>(false)
    private let wake = WakeSignal()

    package init(platform: BotPlatform, logger: Logger) {
        self.platform = platform
        self.holder = "\(ProcessInfo.processInfo.hostName.prefix(40))-\(ProcessInfo.processInfo.processIdentifier)-\(RandomToken.base62(6))"
        self.logger = logger
    }

    package func run() async throws {
        let interval = Duration.milliseconds(max(200, platform.settings.leaseMillis / 3))
        await withTaskCancellationOrGracefulShutdownHandler {
            while !Task.isCancelled && !self.stopping.load(ordering: .relaxed) {
                await self.refresh()
                await self.wake.wait(timeout: interval)
            }
        } onCancelOrGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.wake.signal()
        }
        let all = running.withLock { running in
            defer { running.removeAll() }
            return running
        }
        for (_, bot) in all { bot.task.cancel() }
        for (id, bot) in all {
            await bot.task.value
            try? await platform.store.release(id: id, holder: holder)
        }
    }

    /// Re-reads the table now (a bot was started, stopped or changed).
    package func reload() { wake.signal() }

    /// Whether this process runs the bot now.
    package func isRunningHere(_ id: String) -> Bool { running.withLock { $0[id] != nil } }

    func refresh() async {
        let wanted: [BotRecord]
        do { wanted = try await platform.store.wanted() } catch {
            logger.error("reading bots failed", metadata: ["error": "\(error)"])
            return
        }
        var keep: Set<String> = []
        let now = Timestamp.millis(Date())
        for record in wanted where !stopping.load(ordering: .relaxed) {
            let leased: Bool
            do {
                leased = try await platform.store.lease(id: record.id, holder: holder, leaseMillis: platform.settings.leaseMillis, now: now)
            } catch {
                // A failed renewal is not a lost lease: keep the bot while the lease lasts.
                logger.warning("renewing a bot's lease failed", metadata: ["bot": "\(record.name)", "error": "\(error)"])
                if record.leaseHolder == holder, (record.leaseExpiresAt ?? 0) > now + platform.settings.leaseMillis / 3 { keep.insert(record.id) }
                continue
            }
            guard leased else { continue }
            keep.insert(record.id)
            var previous: Task<Void, Never>?
            if let current = running.withLock({ $0[record.id] }) {
                if current.updatedAt == record.updatedAt { continue }
                // Changed: the new run starts once the old one has ended (never two pollers
                // here), without holding up the renewal of the other bots' leases meanwhile.
                current.task.cancel()
                previous = current.task
            }
            start(record, after: previous)
        }
        let gone = running.withLock { running in
            let gone = running.filter { !keep.contains($0.key) }
            for id in gone.keys { running[id] = nil }
            return gone
        }
        for (id, bot) in gone {
            bot.task.cancel()
            // Released once it has ended; the other bots' renewals do not wait for it.
            Task { [platform, holder] in
                await bot.task.value
                try? await platform.store.release(id: id, holder: holder)
            }
        }
    }

    func start(_ record: BotRecord, after previous: Task<Void, Never>? = nil) {
        let task = Task { [platform, logger] in
            await previous?.value
            // A failure that may pass (Telegram unreachable, another poller on the token for a
            // while) is retried with a growing pause; a token Telegram refuses is not.
            var pause = Duration.seconds(2)
            while !Task.isCancelled {
                do {
                    try await Self.runBot(record, platform: platform)
                    return
                } catch {
                    if Task.isCancelled { return }
                    logger.error("bot stopped", metadata: ["bot": "\(record.name)", "error": "\(error)"])
                    if case BotAPIError.badToken = error {
                        try? await platform.store.stopped(id: record.id, error: "\(error)", now: Timestamp.millis(Date()))
                        return
                    }
                    try? await platform.store.setError(id: record.id, "\(error)")
                    try? await Task.sleep(for: pause)
                    pause = min(pause * 2, .seconds(300))
                }
            }
        }
        running.withLock { $0[record.id] = Running(updatedAt: record.updatedAt, task: task) }
    }

    /// One bot in this process until cancelled: who it is, where its updates come from, and its
    /// background work. Throws what stops it (a bad token, another poller).
    static func runBot(_ record: BotRecord, platform: BotPlatform) async throws {
        guard let behavior = platform.behavior(record.kind) else {
            throw BotStartError("this process has no \(record.kind.rawValue) bot (its feature is not configured)")
        }
        let bot = try platform.context(record)
        let me = try await bot.api.getMe()
        if me.username != record.username || me.id != record.telegramID {
            try await platform.store.setIdentity(id: record.id, username: me.username, telegramID: me.id)
        }
        switch record.mode {
        case .polling:
            // A webhook left from webhook mode makes getUpdates answer 409.
            try await bot.api.deleteWebhook()
        case .webhook:
            guard let url = platform.webhookURL(record) else {
                throw BotStartError("webhook mode needs ATELIER_PUBLIC_URL (the https address Telegram can reach)")
            }
            try await bot.api.setWebhook(url: url, secretToken: record.webhookSecret)
        }
        try await behavior.prepare(bot)
        try await platform.store.setError(id: record.id, nil)
        bot.logger.info("bot started", metadata: ["mode": "\(record.mode.rawValue)", "username": "\(me.username ?? "")"])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await behavior.background(bot) }
            group.addTask {
                // Polling takes updates from Telegram; webhook mode runs what deliveries to any
                // process stored in the bot's inbox.
                let poller = LongPoller(
                    botID: record.id,
                    client: bot.api,
                    log: platform.updates,
                    settings: platform.settings.poller,
                    source: record.mode == .polling ? .getUpdates : .inbox(bell: platform.inboxBell(record.id)),
                    logger: bot.logger
                ) { update in await behavior.handle(update, bot) }
                try await poller.run()
            }
            // The first to end (an error, or cancellation) ends the bot.
            try await group.next()
            group.cancelAll()
        }
    }
}

struct BotStartError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
