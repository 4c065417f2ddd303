/// The studio's business rules, from settings (README's configuration table).
package struct StudioSettings: Sendable {
    /// Tokens a person gets on /start, once.
    package var welcomeTokens: Int64 = 3
    /// Tokens one image costs.
    package var generationCost: Int64 = 1
    /// Tokens a LoRA training costs.
    package var trainingCost: Int64 = 50
    /// Per cent of each purchase's tokens given to the person who invited the buyer.
    package var referralPercent = 10
    /// YooMoney wallet number for payment links; nil: only Telegram Stars.
    package var yooMoneyWallet: String?
    package var historyPageSize = 5
    /// Admin error notifications: at most one per this many seconds per bot (the rest are counted
    /// into the next one).
    package var errorNotificationSeconds = 60

    package init() {}
}
