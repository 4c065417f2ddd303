import Foundation
import Synchronization
import Telegram

/// Tells a bot's admins what happens (a new person, a payment, a training done or failed, an
/// error). Errors are rate-limited: a storm becomes one message a minute that says how many more
/// there were, so the admins' chats stay readable and the bot stays within its flood limits.
package final class AdminNotifier: Sendable {
    struct State {
        var lastError: ContinuousClock.Instant?
        var suppressed = 0
    }

    let interval: Duration
    private let state = Mutex<[String: State]>([:])

    package init(interval: Duration) { self.interval = interval }

    /// Sends `text` to every admin of the bot; failures are logged, not thrown.
    package func tell(_ bot: BotContext, _ text: String) async {
        for admin in bot.record.adminIDs {
            do { try await bot.messenger.send(admin, text) } catch {
                bot.logger.warning("admin notification failed", metadata: ["admin": "\(admin)", "error": "\(error)"])
            }
        }
    }

    /// An error for the admins (plain text: escaped here), at most one message per `interval` per bot.
    package func error(_ bot: BotContext, _ text: String) async {
        let now = ContinuousClock.now
        let suppressed: Int? = state.withLock { states in
            var entry = states[bot.id] ?? State()
            defer { states[bot.id] = entry }
            if let last = entry.lastError, now - last < interval {
                entry.suppressed += 1
                return nil
            }
            entry.lastError = now
            defer { entry.suppressed = 0 }
            return entry.suppressed
        }
        guard let suppressed else { return }
        let more = suppressed > 0 ? "\n(+\(suppressed) more since the last message)" : ""
        await tell(bot, "⚠️ " + TelegramHTML.escape(String(text.prefix(3000))) + more)
    }
}
