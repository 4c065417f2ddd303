import AsyncHTTPClient
import Core
import Crypto
import Foundation
import Logging
import Synchronization
import Telegram

/// Everything a bot needs to talk to Telegram, shared by the supervisor (polling, background
/// work) and the webhook route: the stored bots, their sealed tokens, the Bot API base URL and
/// one flood limiter per bot in this process.
package final class BotPlatform: Sendable {
    package struct Settings: Sendable {
        /// `ATELIER_TELEGRAM_API_URL`.
        package var apiURL: String
        /// `ATELIER_PUBLIC_URL`: where Telegram sends webhook updates. Without it webhook mode
        /// cannot start.
        package var publicBase: String?
        /// How long a process holds a bot without renewing before another may take it.
        package var leaseMillis: Int64 = 15_000
        /// The bot's overall send rate (Telegram allows about 30 a second).
        package var messagesPerSecond = 30
        package var poller = LongPoller.Settings()

        package init(apiURL: String, publicBase: String?) {
            self.apiURL = apiURL
            self.publicBase = publicBase
        }
    }

    package let store: BotStore
    package let updates: UpdateLog
    package let settings: Settings
    let box: SecretBox
    let http: HTTPClient
    let behaviors: [BotKind: any BotBehavior]
    /// A person blocked the bot or left: the product marks them (broadcasts skip them).
    let unreachable: @Sendable (BotRecord, Int64) async -> Void
    let logger: Logger
    private let limiters = Mutex<[String: OutboundLimiter]>([:])
    /// Per webhook bot: rung when this process stored a delivery, so the runner here (if this
    /// process holds the bot) takes it at once instead of at its next look at the inbox.
    private let bells = Mutex<[String: WakeSignal]>([:])

    package init(
        store: BotStore,
        updates: UpdateLog,
        settings: Settings,
        box: SecretBox,
        http: HTTPClient,
        behaviors: [BotKind: any BotBehavior],
        unreachable: @escaping @Sendable (BotRecord, Int64) async -> Void = { _, _ in },
        logger: Logger
    ) {
        self.store = store
        self.updates = updates
        self.settings = settings
        self.box = box
        self.http = http
        self.behaviors = behaviors
        self.unreachable = unreachable
        self.logger = logger
    }

    package func seal(token: String) throws -> (sealed: String, fingerprint: String) {
        (try box.seal(Secret(token)), Self.fingerprint(token))
    }

    /// Identifies a token without revealing it: two rows with one token would be two pollers.
    static func fingerprint(_ token: String) -> String {
        String(Hex.encode(SHA256.hash(data: Data(token.utf8))).prefix(32))
    }

    package func client(_ record: BotRecord) throws -> BotAPIClient {
        BotAPIClient(baseURL: settings.apiURL, token: try box.open(record.sealedToken), http: http)
    }

    package func behavior(_ kind: BotKind) -> (any BotBehavior)? { behaviors[kind] }

    /// The bell of a webhook bot's inbox in this process.
    package func inboxBell(_ id: String) -> WakeSignal {
        bells.withLock { bells in
            if let existing = bells[id] { return existing }
            let created = WakeSignal()
            bells[id] = created
            return created
        }
    }

    /// The bot's context in this process: its client, and the one limiter every send to this bot's
    /// chats goes through, whichever task sends.
    package func context(_ record: BotRecord) throws -> BotContext {
        let api = try client(record)
        let perSecond = max(1, settings.messagesPerSecond)
        let limiter = limiters.withLock { limiters in
            if let existing = limiters[record.id] { return existing }
            var schedule = RateSchedule()
            // Telegram's 30 a second keeps the margin of `Limit.global`; other rates (a local Bot
            // API server, a benchmark) are taken as given.
            if perSecond != 30 { schedule.global = .init(period: .nanoseconds(1_000_000_000 / Int64(perSecond)), burst: 1) }
            let created = OutboundLimiter(schedule: schedule)
            limiters[record.id] = created
            return created
        }
        let unreachable = self.unreachable
        let messenger = Messenger(api: api, limiter: limiter) { chat in await unreachable(record, chat) }
        var logger = self.logger
        logger[metadataKey: "bot"] = "\(record.name)"
        return BotContext(record: record, api: api, messenger: messenger, logger: logger)
    }

    /// Drops the limiter and inbox bell of a bot that was removed.
    package func forget(_ id: String) {
        _ = limiters.withLock { $0.removeValue(forKey: id) }
        _ = bells.withLock { $0.removeValue(forKey: id) }
    }

    /// Tells the admins (`admin_ids`) of every started bot that `trusted` accepts the owner of
    /// something from outside, such as an amoCRM lead; `text` is plain and is escaped here. Sent
    /// through each bot's limiter. The operator's leads and pushes are theirs: any account may run
    /// a bot with any admin ids, so the caller says whose bots may hear them (AtelierApp: bots of
    /// enabled admin accounts).
    package func announce(_ text: String, toBotsOwnedBy trusted: @Sendable (String) async -> Bool) async {
        guard let bots = try? await store.wanted() else { return }
        let escaped = TelegramHTML.escape(text)
        var verdicts: [String: Bool] = [:]
        for bot in bots where !bot.adminIDs.isEmpty {
            if verdicts[bot.ownerID] == nil { verdicts[bot.ownerID] = await trusted(bot.ownerID) }
            guard verdicts[bot.ownerID] == true else { continue }
            guard let context = try? context(bot) else { continue }
            for admin in bot.adminIDs { _ = try? await context.messenger.send(admin, escaped) }
        }
    }

    /// Where Telegram posts this bot's updates in webhook mode.
    package func webhookURL(_ record: BotRecord) -> String? {
        guard var base = settings.publicBase else { return nil }
        while base.hasSuffix("/") { base.removeLast() }
        return "\(base)/telegram/\(record.id)/webhook"
    }
}
