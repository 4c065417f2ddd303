import Core
import Logging
import Synchronization

/// Takes a bot's updates with `getUpdates` and hands each to `handle`: one chat's updates in
/// order, chats in parallel, at most `maxInFlight` at once. The offset confirmed to Telegram
/// never passes an update that is not handled yet (Telegram deletes what is below the offset),
/// and every handled id is recorded, so after a crash the updates in flight come again and the
/// ones already handled are skipped: none lost, none handled twice.
package final class LongPoller: Sendable {
    package struct Settings: Sendable {
        /// Seconds Telegram holds a long poll open when nothing is waiting.
        package var pollTimeout = 25
        package var maxInFlight = 256
        package var allowedUpdates: [String]? = nil

        package init() {}
    }

    let botID: String
    let client: BotAPIClient
    let log: UpdateLog
    let settings: Settings
    let logger: Logger
    /// Handles one update; errors are the handler's to report (a failing update still counts as
    /// handled, or one bad message would stop the bot).
    let handle: @Sendable (Update) async -> Void

    /// Ids whose handler finished, not yet taken in by the loop.
    private let finished = Mutex<[Int64]>([])
    private let wake = WakeSignal()

    package init(
        botID: String,
        client: BotAPIClient,
        log: UpdateLog,
        settings: Settings = Settings(),
        logger: Logger,
        handle: @escaping @Sendable (Update) async -> Void
    ) {
        self.botID = botID
        self.client = client
        self.log = log
        self.settings = settings
        self.logger = logger
        self.handle = handle
    }

    /// Polls until the task is cancelled. Handlers still running then are cancelled and their
    /// updates not recorded, so they come again after a restart. Throws on a bad token or a
    /// conflict (another process polls this bot, or a webhook is set).
    package func run() async throws {
        var offset = try await log.nextOffset(bot: botID)
        // Handled past the offset (before a restart, or by a chat ahead of a slower one).
        var handledAhead = try await log.handled(bot: botID, from: offset ?? 0)
        var inFlight: Set<Int64> = []
        // Per chat: the last update given to it and the task that handles the chat's updates in order.
        var chatTails: [Int64: (last: Int64, task: Task<Void, Never>)] = [:]
        // Every update's task until it is taken in, so a stop can cancel each link of a chain.
        var handlers: [Int64: Task<Void, Never>] = [:]
        var failures = 0
        // The last update of this run's fetches taken care of (given to a handler, or found
        // handled); everything Telegram sent up to it was too. Only it lets the offset pass
        // updates handled before a restart: below them may be ones not fetched yet.
        var coveredThrough: Int64?
        defer { for handler in handlers.values { handler.cancel() } }

        while !Task.isCancelled {
            // Take in what finished, and move the offset up to the first update still in flight.
            for id in finished.withLock({ ids in
                defer { ids.removeAll() }
                return ids
            }) {
                inFlight.remove(id)
                handlers[id] = nil
                handledAhead.insert(id)
            }
            let confirmed = inFlight.min() ?? coveredThrough.map { $0 + 1 }
            if let confirmed, confirmed > (offset ?? Int64.min) {
                try await log.commit(bot: botID, offset: confirmed)
                offset = confirmed
                handledAhead = handledAhead.filter { $0 >= confirmed }
            }
            if inFlight.count >= settings.maxInFlight {
                await wake.wait(timeout: .seconds(1))
                continue
            }
            let updates: [Update]
            do {
                // With updates in flight Telegram would answer them again at once: ask without
                // waiting, and only after one of them finished.
                if !inFlight.isEmpty { await wake.wait(timeout: .seconds(1)) }
                updates = try await client.getUpdates(
                    offset: offset,
                    timeout: inFlight.isEmpty ? settings.pollTimeout : 0,
                    allowedUpdates: settings.allowedUpdates
                )
                failures = 0
            } catch let error as BotAPIError {
                if Task.isCancelled { break }
                switch error {
                case .badToken, .conflict: throw error
                case .retryAfter(let seconds, _): try await Task.sleep(for: .seconds(max(1, seconds)))
                default:
                    failures += 1
                    logger.warning("getUpdates failed", metadata: ["bot": "\(botID)", "error": "\(error)"])
                    try await Task.sleep(for: .milliseconds(min(30_000, 500 << min(failures, 6))))
                }
                continue
            }
            for update in updates.sorted(by: { $0.update_id < $1.update_id }) {
                let id = update.update_id
                if handledAhead.contains(id) || inFlight.contains(id) || offset.map({ id < $0 }) == true {
                    coveredThrough = max(coveredThrough ?? id, id)
                    continue
                }
                if inFlight.count >= settings.maxInFlight { break }
                coveredThrough = max(coveredThrough ?? id, id)
                inFlight.insert(id)
                // Updates without a chat (none the bots take today) run on their own.
                let chat = update.chatID ?? (Int64.min + id)
                let previous = chatTails[chat]?.task
                let task = Task { [self] in
                    await previous?.value
                    guard !Task.isCancelled else { return }
                    await handle(update)
                    // Interrupted: not handled; it comes again after a restart.
                    guard !Task.isCancelled else { return }
                    do {
                        try await log.markHandled(bot: botID, updateID: id)
                    } catch {
                        // Counted as handled for this run; after a restart it may come again.
                        logger.error("could not record a handled update", metadata: ["bot": "\(botID)", "update": "\(id)", "error": "\(error)"])
                    }
                    finished.withLock { $0.append(id) }
                    wake.signal()
                }
                chatTails[chat] = (id, task)
                handlers[id] = task
            }
            // A chat whose last update finished has nothing running: forget it.
            chatTails = chatTails.filter { inFlight.contains($0.value.last) }
        }
        // Stopped: cancel every handler (a chain's later links return once the earlier ones end).
        for handler in handlers.values { handler.cancel() }
        for handler in handlers.values { await handler.value }
    }
}
