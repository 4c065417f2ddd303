import Core
import Foundation
import JWTKit

/// Claims of an Atelier access token (HS256).
struct AccessClaims: JWTPayload {
    var sub: SubjectClaim
    var name: String
    var role: String
    var iat: IssuedAtClaim
    var exp: ExpirationClaim
    var iss: IssuerClaim
    /// Issue time in milliseconds: `iat` has whole seconds, and a token issued in the same second
    /// as a password change must be told apart from one issued after it.
    var iat_ms: Int64?

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard iss.value == TokenService.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "issuer") }
    }
}

/// Issues and checks access tokens. The signing key comes from configuration or from the database
/// (generated once), so every process of one installation accepts every other's tokens.
package struct TokenService: Sendable {
    static let issuer = "atelier"
    let keys: JWTKeyCollection
    package let lifetime: TimeInterval
    let clock: WallClock

    package init(secret: Secret, lifetime: TimeInterval, clock: WallClock = .system) async {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret.value), digestAlgorithm: .sha256)
        self.keys = keys
        self.lifetime = lifetime
        self.clock = clock
    }

    package struct Issued: Sendable {
        package var token: String
        package var expiresIn: Int
    }

    package func issue(for user: User) async throws -> Issued {
        let now = clock.now()
        let claims = AccessClaims(
            sub: .init(value: user.id),
            name: user.username,
            role: user.role.rawValue,
            iat: .init(value: now),
            exp: .init(value: now.addingTimeInterval(lifetime)),
            iss: .init(value: Self.issuer),
            iat_ms: Timestamp.millis(now)
        )
        return Issued(token: try await keys.sign(claims), expiresIn: Int(lifetime))
    }

    /// The verified token's subject and issue time in milliseconds, or 401 that says what is wrong.
    /// A token without `iat_ms` (issued by an older version) counts from the end of its `iat` second.
    func verify(_ token: String) async throws -> (userID: String, issuedAtMillis: Int64) {
        do {
            let claims = try await keys.verify(token, as: AccessClaims.self)
            let seconds = Int64(claims.iat.value.timeIntervalSince1970.rounded(.down))
            return (claims.sub.value, claims.iat_ms ?? (seconds * 1000 - 1))
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw AppError.unauthorized("access token expired or not valid; log in again at POST /admin/auth/login")
        } catch {
            throw AppError.unauthorized("access token is not valid; log in again at POST /admin/auth/login")
        }
    }
}
