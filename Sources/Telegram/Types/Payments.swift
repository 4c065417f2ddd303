/// Telegram Stars payments (https://core.telegram.org/bots/payments-stars): an invoice in `XTR`,
/// a pre-checkout query the bot must answer within 10 s, then a message with the payment.
package struct PreCheckoutQuery: Codable, Sendable, Equatable {
    package var id: String
    package var from: User
    package var currency: String
    package var total_amount: Int
    package var invoice_payload: String
}

package struct SuccessfulPayment: Codable, Sendable, Equatable {
    package var currency: String
    package var total_amount: Int
    package var invoice_payload: String
    /// Unique per payment: the ledger's key, so a replayed update credits once.
    package var telegram_payment_charge_id: String
    package var provider_payment_charge_id: String?
}

package struct RefundedPayment: Codable, Sendable, Equatable {
    package var currency: String
    package var total_amount: Int
    package var invoice_payload: String
    package var telegram_payment_charge_id: String
}

package struct LabeledPrice: Codable, Sendable, Equatable {
    package var label: String
    /// In the currency's smallest unit; for `XTR` a whole number of stars.
    package var amount: Int

    package init(label: String, amount: Int) {
        self.label = label
        self.amount = amount
    }
}
