import Core
import Foundation
import HTTPTypes
import Hummingbird

/// Turns request credentials into a `Principal`. Accepts `Authorization: Bearer <JWT or API key>`
/// and `X-Token: <API key>` (seed 000's header). Credentials that are present but wrong are a 401
/// even on public routes, so a client with a broken token finds out at once.
package struct Authenticator: Sendable {
    let users: UserStore
    let keys: APIKeyStore
    let tokens: TokenService
    let clock: WallClock
    /// Recently checked credentials (nil: every request reads the rows).
    let cache: PrincipalCache?

    package init(users: UserStore, keys: APIKeyStore, tokens: TokenService, clock: WallClock = .system, cache: PrincipalCache? = nil) {
        self.users = users
        self.keys = keys
        self.tokens = tokens
        self.clock = clock
        self.cache = cache
    }

    package static let xToken = HTTPField.Name("X-Token")!

    /// The presented credential, if any.
    static func credential(in headers: HTTPFields) throws -> String? {
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw AppError.unauthorized("Authorization header must be 'Bearer <token>'")
            }
            let token = parts[1].trimmingCharacters(in: .whitespaces)
            guard !token.isEmpty else { throw AppError.unauthorized("Authorization header has an empty token") }
            return token
        }
        if let token = headers[xToken]?.trimmingCharacters(in: .whitespaces), !token.isEmpty {
            return token
        }
        return nil
    }

    package func authenticate(headers: HTTPFields) async throws -> Principal? {
        guard let credential = try Self.credential(in: headers) else { return nil }
        let key = cache.map { _ in PrincipalCache.key(credential) }
        if let key, let known = cache?.principal(for: key) { return known }
        let principal =
            credential.hasPrefix(APIKey.scheme) ? try await authenticate(apiKey: credential) : try await authenticate(jwt: credential)
        if let key { cache?.remember(principal, for: key) }
        return principal
    }

    func authenticate(jwt: String) async throws -> Principal {
        let (userID, issuedAt) = try await tokens.verify(jwt)
        guard let user = try await users.find(id: userID) else {
            throw AppError.unauthorized("the account of this token no longer exists")
        }
        guard !user.disabled else { throw AppError.unauthorized("this account is disabled; ask an administrator") }
        // Compared in milliseconds: a token from the same second as the change, but before it, is refused.
        guard issuedAt >= user.passwordChangedAt else {
            throw AppError.unauthorized("the password was changed after this token was issued; log in again")
        }
        return Principal(userID: user.id, username: user.username, role: user.role, method: .jwt)
    }

    func authenticate(apiKey: String) async throws -> Principal {
        let invalid = AppError.unauthorized("API key is not valid")
        guard let prefix = APIKey.prefix(of: apiKey), let key = try await keys.find(prefix: prefix) else { throw invalid }
        guard ConstantTime.equal(APIKey.hash(apiKey), key.keyHash) else { throw invalid }
        let now = clock.millis()
        guard key.revokedAt == nil else { throw AppError.unauthorized("API key \(key.prefix) was revoked") }
        if let expiresAt = key.expiresAt, expiresAt <= now {
            throw AppError.unauthorized("API key \(key.prefix) has expired; create a new one")
        }
        guard let user = try await users.find(id: key.ownerID), !user.disabled else {
            throw AppError.unauthorized("the account of this API key is disabled")
        }
        // Record use at most once a minute per key: a write per request would cost more than the check.
        if (key.lastUsedAt ?? 0) < now - 60_000 { try? await keys.touch(id: key.id, at: now) }
        return Principal(userID: user.id, username: user.username, role: user.role, method: .apiKey, keyID: key.id)
    }
}
