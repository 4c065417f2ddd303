import Core
import Foundation

/// An account. `passwordHash` is bcrypt; it never leaves this module in a response.
package struct User: Sendable, Equatable {
    package var id: String
    package var username: String
    package var passwordHash: String
    package var role: Role
    package var displayName: String?
    package var email: String?
    package var disabled: Bool
    package var createdAt: Int64
    package var updatedAt: Int64
    /// Tokens issued before this instant are no longer accepted (password change logs out everywhere).
    package var passwordChangedAt: Int64
    package var lastLoginAt: Int64?
}

/// Row shape of the `users` table, decoded by SQLKit.
struct UserRow: Codable {
    var id: String
    var username: String
    var password_hash: String
    var role: String
    var display_name: String?
    var email: String?
    var disabled: Bool
    var created_at: Int64
    var updated_at: Int64
    var password_changed_at: Int64
    var last_login_at: Int64?

    func user() -> User {
        User(
            id: id,
            username: username,
            passwordHash: password_hash,
            role: Role.parse(role) ?? .guest,
            displayName: display_name,
            email: email,
            disabled: disabled,
            createdAt: created_at,
            updatedAt: updated_at,
            passwordChangedAt: password_changed_at,
            lastLoginAt: last_login_at
        )
    }
}
