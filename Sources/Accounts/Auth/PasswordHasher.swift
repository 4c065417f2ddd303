import HummingbirdBcrypt
import NIOPosix

/// bcrypt, run on NIO's blocking thread pool: at cost 12 one hash takes ~250 ms, which must not
/// stall an event loop. Tests use a low cost to stay fast.
public struct PasswordHasher: Sendable {
    public let cost: UInt8

    public init(cost: UInt8 = 12) { self.cost = cost }

    public func hash(_ password: String) async throws -> String {
        let cost = self.cost
        return try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    public func verify(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    /// A real hash of a random password, compared against when the username is unknown so that a
    /// login for a missing user takes as long as one for an existing user.
    public func decoyHash() async throws -> String { try await hash("decoy-password-never-valid") }
}
