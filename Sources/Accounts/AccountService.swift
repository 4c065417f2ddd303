import Core
import Foundation
import Logging
import Storage

/// Account operations shared by the HTTP API and the CLI, so both enforce the same rules.
package struct AccountService: Sendable {
    package let users: UserStore
    package let keys: APIKeyStore
    package let hasher: PasswordHasher
    package let tokens: TokenService
    package let throttle: LoginThrottle
    let clock: WallClock
    let logger: Logger
    /// Cleared by every change that could turn a credential away.
    package let principals = PrincipalCache()

    package init(
        database: Database,
        hasher: PasswordHasher,
        tokens: TokenService,
        throttle: LoginThrottle,
        clock: WallClock = .system,
        logger: Logger
    ) {
        self.users = UserStore(database: database)
        self.keys = APIKeyStore(database: database)
        self.hasher = hasher
        self.tokens = tokens
        self.throttle = throttle
        self.clock = clock
        self.logger = logger
    }

    package var authenticator: Authenticator {
        Authenticator(users: users, keys: keys, tokens: tokens, clock: clock, cache: principals)
    }

    // MARK: users

    package func createUser(
        username: String,
        password: String,
        role: Role,
        displayName: String? = nil,
        email: String? = nil
    ) async throws -> User {
        let name = try UserInput.username(username)
        let password = try UserInput.password(password)
        let now = clock.millis()
        let user = User(
            id: ID.make("usr"),
            username: name,
            passwordHash: try await hasher.hash(password),
            role: role,
            displayName: try UserInput.displayName(displayName),
            email: try UserInput.email(email),
            disabled: false,
            createdAt: now,
            updatedAt: now,
            passwordChangedAt: now,
            lastLoginAt: nil
        )
        try await users.insert(user)
        logger.info("user created", metadata: ["user_id": "\(user.id)", "username": "\(name)", "role": "\(role.rawValue)"])
        return user
    }

    /// Looks a user up by id or username (the CLI takes either).
    package func find(_ idOrUsername: String) async throws -> User {
        if let user = try await users.find(id: idOrUsername) { return user }
        if let user = try await users.find(username: idOrUsername) { return user }
        throw AppError.notFound("user '\(idOrUsername)' not found")
    }

    package struct Changes: Sendable {
        package var role: Role?
        package var displayName: String??
        package var email: String??
        package var disabled: Bool?
        package var password: String?

        package init(
            role: Role? = nil,
            displayName: String?? = nil,
            email: String?? = nil,
            disabled: Bool? = nil,
            password: String? = nil
        ) {
            self.role = role
            self.displayName = displayName
            self.email = email
            self.disabled = disabled
            self.password = password
        }
    }

    /// Applies changes, refusing any that would leave the installation without an active admin.
    package func update(_ user: User, _ changes: Changes) async throws -> User {
        var updated = user
        if let role = changes.role { updated.role = role }
        if let displayName = changes.displayName { updated.displayName = try UserInput.displayName(displayName) }
        if let email = changes.email { updated.email = try UserInput.email(email) }
        if let disabled = changes.disabled { updated.disabled = disabled }
        let now = clock.millis()
        if let password = changes.password {
            updated.passwordHash = try await hasher.hash(try UserInput.password(password))
            updated.passwordChangedAt = now
        }
        let wasActiveAdmin = user.role == .admin && !user.disabled
        let isActiveAdmin = updated.role == .admin && !updated.disabled
        if wasActiveAdmin && !isActiveAdmin, try await users.countActiveAdmins() <= 1 {
            throw AppError.conflict("\(user.username) is the last active admin; make another admin first")
        }
        updated.updatedAt = now
        try await users.update(updated)
        principals.clear()
        return updated
    }

    package func delete(_ user: User) async throws {
        if user.role == .admin && !user.disabled, try await users.countActiveAdmins() <= 1 {
            throw AppError.conflict("\(user.username) is the last active admin; make another admin first")
        }
        try await users.delete(id: user.id)
        principals.clear()
        logger.info("user deleted", metadata: ["user_id": "\(user.id)"])
    }

    package func changePassword(_ user: User, current: String, new: String) async throws -> User {
        guard try await hasher.verify(current, hash: user.passwordHash) else {
            // 403, not 422: the request is well-formed; the caller failed to prove who they are.
            throw AppError(
                .forbidden,
                "current_password: is not your current password",
                code: "wrong_password",
                field: "current_password"
            )
        }
        _ = try UserInput.password(new, field: "new_password")
        guard current != new else {
            throw AppError.validation(field: "new_password", "must differ from the current password")
        }
        return try await update(user, Changes(password: new))
    }

    // MARK: login

    package func login(username: String, password: String, address: String) async throws -> (User, TokenService.Issued) {
        let name = username.trimmingCharacters(in: .whitespaces).lowercased()
        try await throttle.check(username: name, address: address)
        let user = try await users.find(username: name)
        // Verify against a decoy when the user is missing, so timing does not reveal usernames.
        // (Hashing costs the same as verifying at one bcrypt cost.)
        let valid: Bool
        if let user {
            valid = try await hasher.verify(password, hash: user.passwordHash)
        } else {
            _ = try await hasher.decoyHash()
            valid = false
        }
        guard let user, valid else {
            await throttle.recordFailure(username: name, address: address)
            logger.notice("login failed", metadata: ["username": "\(name)", "client": "\(address)"])
            throw AppError.unauthorized("wrong username or password")
        }
        guard !user.disabled else {
            throw AppError.unauthorized("this account is disabled; ask an administrator")
        }
        await throttle.recordSuccess(username: name, address: address)
        try await users.recordLogin(id: user.id, at: clock.millis())
        return (user, try await tokens.issue(for: user))
    }

    // MARK: bootstrap

    package struct BootstrapAdmin: Sendable {
        package var username: String
        /// Set only when the password was generated and must be shown to the operator once.
        package var generatedPassword: Secret?
    }

    /// On first start with no users, creates the admin from configuration, or with a generated
    /// password. Returns nil when users already exist. Safe with several processes starting at once:
    /// the unique username means only one insert wins, and the others see users and do nothing.
    package func bootstrapAdmin(username: String, password: Secret?) async throws -> BootstrapAdmin? {
        guard try await users.count() == 0 else { return nil }
        let generated = password == nil ? Secret(RandomToken.password()) : nil
        let chosen = password ?? generated!
        do {
            _ = try await createUser(username: username, password: chosen.value, role: .admin)
        } catch let error as AppError where error.status == .conflict {
            return nil
        }
        return BootstrapAdmin(username: try UserInput.username(username), generatedPassword: generated)
    }

    // MARK: API keys

    package func createKey(owner: User, name: String, expiresInDays: Int?) async throws -> (APIKey, plaintext: Secret) {
        let trimmed = name.trimmingWhitespace
        // Code points, not graphemes: one letter can carry any number of combining marks.
        guard (1...AccountsBounds.keyName).contains(trimmed.unicodeScalars.count) else {
            throw AppError.validation(field: "name", "must be 1 to \(AccountsBounds.keyName) characters")
        }
        if let days = expiresInDays, !(1...3650).contains(days) {
            throw AppError.validation(field: "expires_in_days", "must be from 1 to 3650")
        }
        let (plaintext, prefix, hash) = APIKey.generate()
        let now = clock.millis()
        let key = APIKey(
            id: ID.make("key"),
            ownerID: owner.id,
            name: trimmed,
            prefix: prefix,
            keyHash: hash,
            createdAt: now,
            expiresAt: expiresInDays.map { now + Int64($0) * 86_400_000 },
            lastUsedAt: nil,
            revokedAt: nil
        )
        try await keys.insert(key)
        logger.info("API key created", metadata: ["key_prefix": "\(prefix)", "user_id": "\(owner.id)"])
        return (key, Secret(plaintext))
    }

    package func revokeKey(id: String, scope: OwnerScope) async throws -> APIKey {
        let key = try scope.require(
            try await keys.find(id: id, scope: scope),
            owner: \.ownerID,
            notFound: "API key \(id) not found"
        )
        try await keys.revoke(id: key.id, at: clock.millis())
        principals.clear()
        return try await keys.find(id: id, scope: .all) ?? key
    }
}
