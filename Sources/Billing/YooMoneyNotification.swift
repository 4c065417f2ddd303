import Core
import Crypto
import Foundation

/// A YooMoney wallet's HTTP notification of an incoming payment
/// (https://yoomoney.ru/docs/wallet/using-api/notification-p2p-incoming): a form POST whose
/// `sha1_hash` is the SHA-1 of `notification_type&operation_id&amount&currency&datetime&sender&
/// codepro&notification_secret&label`. `label` carries our order id; `operation_id` is unique per
/// payment and is the ledger's key, so a repeated notification credits once.
package struct YooMoneyNotification: Sendable, Equatable {
    package var notificationType: String
    package var operationID: String
    /// What reaches the wallet (after YooMoney's fee), in kopecks.
    package var amountKopecks: Int64
    /// What the payer paid, in kopecks (absent in old notifications).
    package var withdrawKopecks: Int64?
    package var currency: String
    package var datetime: String
    package var sender: String
    package var codepro: Bool
    package var label: String
    package var unaccepted: Bool
    package var test: Bool

    package enum Problem: Error, Equatable, CustomStringConvertible {
        case missing(String)
        case badAmount(String)
        case badSignature
        /// Protected (code) or held payments are not money yet.
        case notSettled(String)

        package var description: String {
            switch self {
            case .missing(let field): "\(field): field required"
            case .badAmount(let field): "\(field): must be an amount in rubles like 99.00"
            case .badSignature: "sha1_hash does not match: check the notification secret"
            case .notSettled(let why): why
            }
        }
    }

    /// Parses and checks the form fields; throws before anything is believed.
    package init(form: [String: String], secret: Secret) throws {
        func field(_ name: String) throws -> String {
            guard let value = form[name] else { throw Problem.missing(name) }
            return value
        }
        notificationType = try field("notification_type")
        operationID = try field("operation_id")
        let amount = try field("amount")
        currency = try field("currency")
        datetime = try field("datetime")
        sender = form["sender"] ?? ""
        let codeproText = form["codepro"] ?? "false"
        label = form["label"] ?? ""
        let hash = try field("sha1_hash")
        let signed = [notificationType, operationID, amount, currency, datetime, sender, codeproText, secret.value, label].joined(separator: "&")
        let expected = Hex.encode(Insecure.SHA1.hash(data: Data(signed.utf8)))
        guard ConstantTime.equal(expected, hash.lowercased()) else { throw Problem.badSignature }
        guard let kopecks = Self.kopecks(amount) else { throw Problem.badAmount("amount") }
        amountKopecks = kopecks
        if let withdraw = form["withdraw_amount"], !withdraw.isEmpty {
            guard let value = Self.kopecks(withdraw) else { throw Problem.badAmount("withdraw_amount") }
            withdrawKopecks = value
        }
        codepro = codeproText == "true"
        unaccepted = form["unaccepted"] == "true"
        test = form["test_notification"] == "true"
        guard !codepro else { throw Problem.notSettled("a payment protected by a code is not credited until it is received") }
        guard !unaccepted else { throw Problem.notSettled("the payment is held (unaccepted) and not credited yet") }
    }

    /// What the payer paid: the order's price is checked against this.
    package var paidKopecks: Int64 { withdrawKopecks ?? amountKopecks }

    /// "99.00" → 9900; refuses anything but digits with at most two decimals.
    static func kopecks(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let rubles = Int64(parts[0]), rubles >= 0, rubles < 1_000_000_000 else { return nil }
        guard parts.count == 2 else { return rubles * 100 }
        let fraction = parts[1]
        guard (1...2).contains(fraction.count), fraction.allSatisfy(\.isNumber), let cents = Int64(fraction) else { return nil }
        return rubles * 100 + (fraction.count == 1 ? cents * 10 : cents)
    }

    /// A quickpay link for an order: the payer chooses a card or wallet; the label comes back in
    /// the notification.
    package static func paymentLink(wallet: String, kopecks: Int64, label: String, title: String) -> String {
        var parts = URLComponents(string: "https://yoomoney.ru/quickpay/confirm")!
        parts.queryItems = [
            URLQueryItem(name: "receiver", value: wallet),
            URLQueryItem(name: "quickpay-form", value: "button"),
            URLQueryItem(name: "paymentType", value: "AC"),
            URLQueryItem(name: "sum", value: String(format: "%lld.%02lld", kopecks / 100, kopecks % 100)),
            URLQueryItem(name: "label", value: label),
            URLQueryItem(name: "targets", value: title),
        ]
        return parts.url!.absoluteString
    }
}
