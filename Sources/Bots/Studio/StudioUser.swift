import Foundation

/// A person of the photo studio: seed 002's `User` row.
package struct StudioUser: Sendable, Equatable, Codable {
    package var user_id: Int64
    package var username: String?
    package var first_name: String?
    package var last_name: String?
    package var activation_date: Int64
    package var tokens_left: Int64
    package var tokens_spent: Int64
    package var language_code: String?
    package var referral_code: String
    package var referred_by: Int64?
    package var is_blocked: Int
    package var bot_blocked: Int
    /// The chosen look (`StudioStyle.key`); nil: the default.
    package var style: String?
    /// What the next message means (`train`: photos for a training).
    package var pending_action: String?
    package var last_active_at: Int64

    /// The ledger account of this person.
    package var account: String { Self.account(user_id) }
    package static func account(_ id: Int64) -> String { "tg:\(id)" }

    package var blocked: Bool { is_blocked != 0 }
    package var language: StudioLanguage { StudioLanguage(code: language_code) }
}

/// The studio speaks Russian to people whose Telegram is in Russian (or a language of the
/// region that usually reads it), English to everyone else.
package enum StudioLanguage: String, Sendable {
    case ru, en

    package init(code: String?) {
        let prefix = (code ?? "").lowercased().prefix(2)
        self = ["ru", "uk", "be", "kk", "uz", "ky", "tg", "hy", "az"].contains(String(prefix)) ? .ru : .en
    }
}
