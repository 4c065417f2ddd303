import Accounts
import Assistant
import Billing
import Bots
import Generation
import Hub
import Storage
import Telegram

/// Every feature's migrations, in the order they apply. A feature's list is appended here when the
/// feature is added; ids are never renamed once released.
package enum AllMigrations {
    package static let list: [Migration] =
        SettingsStore.migrations + AccountsMigrations.all + HubMigrations.all + GenerationMigrations.all
        + TelegramMigrations.all + BillingMigrations.all + BotsMigrations.all + AssistantMigrations.all
}
