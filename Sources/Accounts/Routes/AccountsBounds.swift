import Core

/// Bounds on the accounts API's request fields, in one place (`UserInput` holds the rules for
/// values that are stored; these also cover what is only compared, such as a login's name, which
/// the login throttle keeps in memory). Lengths are Unicode code points.
package enum AccountsBounds {
    /// Longer than any username can be (64), so a real one is never refused for its length.
    package static let loginUsername = 256
    /// Longer than any password can be set (`UserInput.maxPasswordLength`).
    package static let loginPassword = 1024
    package static let role = 16
    package static let keyName = 100
    /// display_name and email before trimming; `UserInput` checks what is kept.
    package static let profileText = 1024
}

extension LoginRequest: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(username, field: "username", max: AccountsBounds.loginUsername)
        try Bounded.text(password, field: "password", max: AccountsBounds.loginPassword)
    }
}

extension ChangePasswordRequest: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(current_password, field: "current_password", max: AccountsBounds.loginPassword)
        try Bounded.text(new_password, field: "new_password", max: UserInput.maxPasswordLength)
    }
}

extension ProfileUpdate: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(display_name ?? nil, field: "display_name", max: AccountsBounds.profileText)
        try Bounded.text(email ?? nil, field: "email", max: AccountsBounds.profileText)
    }
}

extension CreateUserRequest: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(username, field: "username", max: AccountsBounds.loginUsername)
        try Bounded.text(password, field: "password", max: UserInput.maxPasswordLength)
        try Bounded.text(role, field: "role", max: AccountsBounds.role)
        try Bounded.text(display_name, field: "display_name", max: AccountsBounds.profileText)
        try Bounded.text(email, field: "email", max: AccountsBounds.profileText)
    }
}

extension UpdateUserRequest: BoundedInput {
    func checkBounds() throws {
        try Bounded.text(role, field: "role", max: AccountsBounds.role)
        try Bounded.text(display_name ?? nil, field: "display_name", max: AccountsBounds.profileText)
        try Bounded.text(email ?? nil, field: "email", max: AccountsBounds.profileText)
        try Bounded.text(password, field: "password", max: UserInput.maxPasswordLength)
    }
}

extension CreateKeyRequest: BoundedInput {
    func checkBounds() throws {
        // Trimmed, as the name is stored (`AccountService.createKey`).
        try Bounded.text(name.trimmingWhitespace, field: "name", max: AccountsBounds.keyName)
    }
}
