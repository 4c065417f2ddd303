import Core
import Foundation

/// Rules for what people type into account fields, shared by the API and the CLI so both reject
/// the same things with the same words.
public enum UserInput {
    public static let minPasswordLength = 8
    public static let maxPasswordLength = 72  // bcrypt reads at most 72 bytes

    /// Lower-cases and checks a username: 3–64 of a-z 0-9 . _ - @.
    public static func username(_ raw: String, field: String = "username") throws -> String {
        let name = raw.trimmingCharacters(in: .whitespaces).lowercased()
        guard (3...64).contains(name.count) else {
            throw AppError.validation(field: field, "must be 3 to 64 characters")
        }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyz0123456789._-@")
        guard name.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            throw AppError.validation(field: field, "may contain only a-z, 0-9, '.', '_', '-' and '@'")
        }
        return name
    }

    public static func password(_ password: String, field: String = "password") throws -> String {
        guard password.count >= minPasswordLength else {
            throw AppError.validation(field: field, "must be at least \(minPasswordLength) characters")
        }
        guard password.utf8.count <= maxPasswordLength else {
            throw AppError.validation(field: field, "must be at most \(maxPasswordLength) bytes")
        }
        return password
    }

    public static func role(_ text: String, field: String = "role") throws -> Role {
        guard let role = Role.parse(text) else {
            throw AppError.validation(field: field, "must be one of admin, user, web, guest")
        }
        return role
    }

    public static func displayName(_ text: String?, field: String = "display_name") throws -> String? {
        guard let text else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count <= 100 else { throw AppError.validation(field: field, "must be at most 100 characters") }
        return trimmed.isEmpty ? nil : trimmed
    }

    public static func email(_ text: String?, field: String = "email") throws -> String? {
        guard let text else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return nil }
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard trimmed.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
            !trimmed.contains(" ")
        else {
            throw AppError.validation(field: field, "is not an e-mail address")
        }
        return trimmed
    }
}
