import Telegram

/// What one kind of bot does. The platform gives it updates (from polling or a webhook) and, in
/// the one process that holds the bot's lease, time for background work (watching generations,
/// sending a broadcast).
package protocol BotBehavior: Sendable {
    /// Once per start in the lease holder: commands, anything Telegram should know.
    func prepare(_ bot: BotContext) async throws
    /// One update. Errors are the behavior's to report to the person; it must not throw.
    func handle(_ update: Update, _ bot: BotContext) async
    /// Runs while this process holds the bot; returns when cancelled.
    func background(_ bot: BotContext) async
}

extension BotBehavior {
    package func prepare(_ bot: BotContext) async throws {}
    package func background(_ bot: BotContext) async {
        while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
    }
}
