import Crypto
import Foundation
import HummingbirdBcrypt
import NIOPosix

/// bcrypt, run on NIO's blocking thread pool: at cost 12 one hash takes ~250 ms, which must not
/// stall an event loop. Tests use a low cost to stay fast.
package struct PasswordHasher: Sendable {
    package let cost: UInt8

    package init(cost: UInt8 = 12) { self.cost = cost }

    package func hash(_ password: String) async throws -> String {
        let cost = self.cost
        let input = Self.bcryptInput(password)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(input, cost: cost) }
    }

    package func verify(_ password: String, hash: String) async throws -> Bool {
        let input = Self.bcryptInput(password)
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(input, hash: hash) }
    }

    /// bcrypt ignores everything past 72 bytes, so two long passwords with the same start would
    /// match. Passwords over 72 bytes are first reduced to their SHA-256 (base64, 44 bytes), which
    /// keeps every byte significant.
    static func bcryptInput(_ password: String) -> String {
        guard password.utf8.count > 72 else { return password }
        return "sha256:" + Data(SHA256.hash(data: Data(password.utf8))).base64EncodedString()
    }

    /// A real hash of a random password, compared against when the username is unknown so that a
    /// login for a missing user takes as long as one for an existing user.
    package func decoyHash() async throws -> String { try await hash("decoy-password-never-valid") }
}
