import Logging
import Telegram

/// One bot as its behavior sees it: the record, the Bot API client and every send going through
/// the bot's flood limiter.
package struct BotContext: Sendable {
    package let record: BotRecord
    package let api: BotAPIClient
    package let messenger: Messenger
    package let logger: Logger

    package var id: String { record.id }
    package func isAdmin(_ telegramUser: Int64) -> Bool { record.adminIDs.contains(telegramUser) }
}
