import Core
import Foundation

/// A bot as `/admin/telegram/bots` takes it (POST: name, token, kind, mode; PATCH: any subset
/// but kind). Field names are fixed by ../shared/ARCHITECTURE.md.
struct BotInput: Decodable, BoundedInput {
    var name: String?
    var token: String?
    var kind: String?
    var mode: String?
    /// Telegram user ids with the studio's admin role; notifications go to them.
    var admin_ids: [Int64]?
    /// Assistant bots: the persona that answers (anna, marina, …).
    var persona: String?

    static let maxName = 64
    static let maxToken = 128
    static let maxAdmins = 50

    func checkBounds() throws {
        try Bounded.text(name, field: "name", max: Self.maxName)
        try Bounded.text(token, field: "token", max: Self.maxToken)
        try Bounded.text(kind, field: "kind", max: 16)
        try Bounded.text(mode, field: "mode", max: 16)
        try Bounded.items(admin_ids, field: "admin_ids", max: Self.maxAdmins)
        try Bounded.text(persona, field: "persona", max: 64)
    }

    static func checkedName(_ name: String) throws -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-"))
        guard !name.isEmpty, name.unicodeScalars.allSatisfy(allowed.contains) else {
            throw AppError.validation(field: "name", "must be 1 to \(maxName) letters, digits, '.', '_' or '-'")
        }
        return name
    }

    /// BotFather's tokens are `<bot id>:<35 characters>`; anything else is a paste mistake that
    /// Telegram would refuse on the first call.
    static func checkedToken(_ token: String) throws -> String {
        let token = token.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = token.split(separator: ":", maxSplits: 1)
        let secretAllowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
        guard parts.count == 2, let id = Int64(parts[0]), id > 0, parts[1].count >= 20,
            parts[1].unicodeScalars.allSatisfy(secretAllowed.contains)
        else {
            throw AppError.validation(field: "token", "must be the token @BotFather gave, like 123456789:AAH…")
        }
        return token
    }

    static func checkedKind(_ kind: String) throws -> BotKind {
        guard let value = BotKind(rawValue: kind) else {
            throw AppError.validation(field: "kind", "must be one of \(BotKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return value
    }

    static func checkedMode(_ mode: String) throws -> BotMode {
        guard let value = BotMode(rawValue: mode) else { throw AppError.validation(field: "mode", "must be polling or webhook") }
        return value
    }

    static func checkedAdmins(_ ids: [Int64]) throws -> [Int64] {
        // A person's id (positive) is an admin and gets the notifications; a group's chat id
        // (negative) only gets the notifications: nobody in it becomes an admin by that.
        guard ids.allSatisfy({ $0 != 0 }) else {
            throw AppError.validation(field: "admin_ids", "must be Telegram user ids, or a group's chat id (negative) for the notifications")
        }
        return Array(Set(ids)).sorted()
    }
}
