import Core
import Foundation

/// Rules for what people type into account fields, shared by the API and the CLI so both reject
/// the same things with the same words.
package enum UserInput {
    package static let minPasswordLength = 8
    /// Longer passwords are fine: `PasswordHasher` pre-hashes any over bcrypt's 72-byte input.
    package static let maxPasswordLength = 256
    /// The documented patterns; the checks below enforce exactly these.
    package static let usernamePattern = "^[A-Za-z0-9._@-]{3,64}$"
    package static let emailPattern = "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"

    /// Lower-cases and checks a username: 3–64 of a-z 0-9 . _ - @.
    package static func username(_ raw: String, field: String = "username") throws -> String {
        let name = raw.trimmingWhitespace.lowercased()
        guard (3...64).contains(name.unicodeScalars.count) else {
            throw AppError.validation(field: field, "must be 3 to 64 characters")
        }
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyz0123456789._-@")
        // (Only ASCII letters: `lowercased()` maps non-ASCII ones to other non-ASCII ones.)
        guard name.unicodeScalars.allSatisfy({ allowed.contains($0) }) else {
            throw AppError.validation(field: field, "may contain only a-z, 0-9, '.', '_', '-' and '@'")
        }
        return name
    }

    package static func password(_ password: String, field: String = "password") throws -> String {
        // Counted in Unicode code points, as JSON Schema's minLength/maxLength count.
        guard password.unicodeScalars.count >= minPasswordLength else {
            throw AppError.validation(field: field, "must be at least \(minPasswordLength) characters")
        }
        guard password.unicodeScalars.count <= maxPasswordLength else {
            throw AppError.validation(field: field, "must be at most \(maxPasswordLength) characters")
        }
        return password
    }

    package static func role(_ text: String, field: String = "role") throws -> Role {
        guard let role = Role.parse(text) else {
            throw AppError.validation(field: field, "must be one of admin, user, web, guest")
        }
        return role
    }

    package static func displayName(_ text: String?, field: String = "display_name") throws -> String? {
        guard let text else { return nil }
        let trimmed = text.trimmingWhitespace
        guard trimmed.unicodeScalars.count <= 100 else { throw AppError.validation(field: field, "must be at most 100 characters") }
        return trimmed.isEmpty ? nil : trimmed
    }

    package static func email(_ text: String?, field: String = "email") throws -> String? {
        guard let text else { return nil }
        if text.isEmpty { return nil }
        guard text.unicodeScalars.count <= 254, text.range(of: emailPattern, options: .regularExpression) != nil else {
            throw AppError.validation(field: field, "is not an e-mail address")
        }
        return text
    }
}
