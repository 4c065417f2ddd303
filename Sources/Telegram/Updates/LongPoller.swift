import Core
import Logging
import Synchronization

/// Takes a bot's updates with `getUpdates` and hands each to `handle`: one chat's updates in
/// order, chats in parallel. Each batch Telegram answers is stored in the bot's inbox in the same
/// transaction that moves the offset past it, so intake never waits for handlers (Telegram can
/// forget the batch at the next call) and nothing is lost: an update leaves the inbox only when
/// its handler has finished, and a restart handles what is still there first. At most
/// `maxInFlight` updates are taken and not finished; beyond that the rest wait at Telegram.
package final class LongPoller: Sendable {
    package struct Settings: Sendable {
        /// Seconds Telegram holds a long poll open when nothing is waiting.
        package var pollTimeout = 25
        /// Updates taken in and not finished, at most (each costs a task and its JSON).
        package var maxInFlight = 10_000
        package var allowedUpdates: [String]? = nil

        package init() {}
    }

    /// Where updates come from: Telegram's `getUpdates`, or (webhook mode) the bot's inbox, which
    /// webhook deliveries to any process fill (`UpdateLog.deliver`); `bell` rings when this
    /// process stored one, and the inbox is also read every `inboxPoll` for the other processes'.
    package enum Source: Sendable {
        case getUpdates
        case inbox(bell: WakeSignal)
    }

    let botID: String
    let client: BotAPIClient
    let log: UpdateLog
    let settings: Settings
    let source: Source
    let logger: Logger
    /// How often the inbox is read in webhook mode when no delivery rang here.
    let inboxPoll: Duration
    /// Handles one update; errors are the handler's to report (a failing update still counts as
    /// handled, or one bad message would stop the bot).
    let handle: @Sendable (Update) async -> Void

    /// Ids whose handler finished, not yet taken in by the loop.
    private let finished = Mutex<[Int64]>([])
    private let wake = WakeSignal()
    /// Set before the handlers are cancelled. Cancelling them one by one is not atomic: a chat's
    /// next handler, waiting on the one just cancelled, could otherwise start and finish before its
    /// own cancel arrives, and leave the inbox while the update before it stays there (CI saw it).
    private let stopping = Atomic<Bool>(false)

    package init(
        botID: String,
        client: BotAPIClient,
        log: UpdateLog,
        settings: Settings = Settings(),
        source: Source = .getUpdates,
        inboxPoll: Duration = .milliseconds(250),
        logger: Logger,
        handle: @escaping @Sendable (Update) async -> Void
    ) {
        self.botID = botID
        self.client = client
        self.log = log
        self.settings = settings
        self.source = source
        self.inboxPoll = inboxPoll
        self.logger = logger
        self.handle = handle
    }

    /// The per-chat chains of handler tasks the loop keeps.
    struct Dispatch {
        var inFlight: Set<Int64> = []
        /// Per chat: the last update given to it and the task that handles the chat's updates in order.
        var chatTails: [Int64: (last: Int64, task: Task<Void, Never>)] = [:]
        /// Every update's task until it is taken in, so a stop can cancel each link of a chain.
        var handlers: [Int64: Task<Void, Never>] = [:]
    }

    /// Polls until the task is cancelled. Handlers still running then are cancelled; their
    /// updates stay in the inbox and run again after a restart. Throws on a bad token or a
    /// conflict (another process polls this bot, or a webhook is set).
    package func run() async throws {
        stopping.store(false, ordering: .sequentiallyConsistent)
        var dispatch = Dispatch()
        do {
            switch source {
            case .getUpdates: try await poll(&dispatch)
            case .inbox(let bell): try await drain(&dispatch, bell: bell)
            }
        } catch {
            await stop(&dispatch)
            throw error
        }
        await stop(&dispatch)
    }

    /// Cancels every handler and waits for them (a chain's later links return once the earlier
    /// ones end), so a restart does not run an update that is still running here.
    func stop(_ dispatch: inout Dispatch) async {
        stopping.store(true, ordering: .sequentiallyConsistent)
        for handler in dispatch.handlers.values { handler.cancel() }
        for handler in dispatch.handlers.values { await handler.value }
        dispatch.handlers.removeAll()
    }

    func poll(_ dispatch: inout Dispatch) async throws {
        var offset = try await log.nextOffset(bot: botID)
        // What a stop or crash cut off: handled first, in order.
        for update in try await log.inbox(bot: botID, limit: settings.maxInFlight) { start(update, &dispatch) }
        var failures = 0

        while !Task.isCancelled {
            takeIn(&dispatch)
            // A batch is up to 100: room for all of it, so a restart can reload the whole inbox.
            if dispatch.inFlight.count + 100 > settings.maxInFlight {
                await wake.wait(timeout: .seconds(1))
                continue
            }
            let updates: [Update]
            do {
                updates = try await client.getUpdates(
                    offset: offset,
                    limit: 100,
                    timeout: settings.pollTimeout,
                    allowedUpdates: settings.allowedUpdates
                )
                failures = 0
                for update in updates where !update.unreadable.isEmpty {
                    // Only names, never content: the update is someone's message.
                    logger.warning(
                        "an update had parts this bot cannot read; they are skipped",
                        metadata: ["bot": "\(botID)", "update_id": "\(update.update_id)", "fields": "\(update.unreadable.joined(separator: ","))"]
                    )
                }
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
            let floor = offset ?? Int64.min
            let fresh = updates.sorted { $0.update_id < $1.update_id }.filter { $0.update_id >= floor }
            guard let last = fresh.last?.update_id else { continue }
            // Stored, and the offset past them, before any handler runs: from here a crash loses none.
            try await log.accept(bot: botID, fresh, nextOffset: last + 1)
            offset = last + 1
            for update in fresh where !dispatch.inFlight.contains(update.update_id) { start(update, &dispatch) }
        }
    }

    /// Webhook mode: runs what deliveries stored in the inbox, in update order per chat, until
    /// cancelled. Only the process holding the bot runs this, so its replies go through one
    /// flood limiter and one chat's updates never run in two processes at once.
    func drain(_ dispatch: inout Dispatch, bell: WakeSignal) async throws {
        while !Task.isCancelled {
            takeIn(&dispatch)
            if dispatch.inFlight.count < settings.maxInFlight {
                for update in try await log.inbox(bot: botID, limit: settings.maxInFlight)
                where !dispatch.inFlight.contains(update.update_id) && dispatch.inFlight.count < settings.maxInFlight {
                    start(update, &dispatch)
                }
            }
            await bell.wait(timeout: inboxPoll)
        }
    }

    /// Forgets the handlers that finished, and the chats with nothing running.
    func takeIn(_ dispatch: inout Dispatch) {
        let done = finished.withLock { ids in
            defer { ids.removeAll() }
            return ids
        }
        guard !done.isEmpty else { return }
        for id in done {
            dispatch.inFlight.remove(id)
            dispatch.handlers[id] = nil
        }
        dispatch.chatTails = dispatch.chatTails.filter { dispatch.inFlight.contains($0.value.last) }
    }

    /// Runs `update` after the chat's previous one; it leaves the inbox when its handler returns.
    func start(_ update: Update, _ dispatch: inout Dispatch) {
        let id = update.update_id
        dispatch.inFlight.insert(id)
        // Updates without a chat (none the bots take today) run on their own.
        let chat = update.chatID ?? (Int64.min + id)
        let previous = dispatch.chatTails[chat]?.task
        let task = Task { [self] in
            await previous?.value
            guard !Task.isCancelled, !stopping.load(ordering: .sequentiallyConsistent) else { return }
            await handle(update)
            // Interrupted: not finished; it stays in the inbox and runs after a restart.
            guard !Task.isCancelled, !stopping.load(ordering: .sequentiallyConsistent) else { return }
            do {
                try await log.finish(bot: botID, updateID: id)
            } catch {
                // Handled in this run; after a restart it may run again.
                logger.error("could not record a handled update", metadata: ["bot": "\(botID)", "update": "\(id)", "error": "\(error)"])
            }
            finished.withLock { $0.append(id) }
            wake.signal()
        }
        dispatch.chatTails[chat] = (id, task)
        dispatch.handlers[id] = task
    }
}
