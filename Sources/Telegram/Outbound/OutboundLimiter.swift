import Synchronization

/// One per bot: every call that sends something to a chat waits here for its slot, first under
/// the chat's limit, then under the bot's overall one (a chat that must wait does not hold back
/// the others). A 429 pauses the chat (and, for flood control on the whole bot, everything) for
/// `retry_after` and the call is sent again only after it: never early.
package final class OutboundLimiter: Sendable {
    private let schedule: Mutex<RateSchedule>
    /// How often one call is sent again after 429s before the error is the caller's.
    package let maxRetries: Int

    package init(schedule: RateSchedule = RateSchedule(), maxRetries: Int = 5) {
        self.schedule = Mutex(schedule)
        self.maxRetries = maxRetries
    }

    /// Waits for a slot to `chat`, then runs `call`; on flood control waits `retry_after` and
    /// runs it again.
    package func send<Result: Sendable>(to chat: Int64, _ call: @Sendable () async throws -> Result) async throws -> Result {
        var attempt = 0
        while true {
            try await waitForSlot(chat)
            do {
                return try await call()
            } catch let error as BotAPIError {
                guard case .retryAfter(let seconds, _) = error, attempt < maxRetries else { throw error }
                attempt += 1
                // The whole bot waits too: Telegram's 429 says the bot, not only this chat,
                // is over a limit often enough that pausing one chat would just move the flood.
                let until = ContinuousClock.now + .seconds(max(1, seconds))
                schedule.withLock { $0.pause(chat: chat, until: until, everything: true) }
            }
        }
    }

    func waitForSlot(_ chat: Int64) async throws {
        let chatSlot = schedule.withLock { $0.reserveChat(chat, now: .now) }
        try await Task.sleep(until: chatSlot, clock: .continuous)
        let globalSlot = schedule.withLock { $0.reserveGlobal(now: .now) }
        try await Task.sleep(until: globalSlot, clock: .continuous)
    }
}
