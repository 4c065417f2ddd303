import Core
import Crypto
import Foundation

/// An API key as stored: only a SHA-256 of the secret part is kept. The full key is shown once,
/// when it is made. Keys look like `atk_<prefix>_<secret>`; the prefix is public and identifies
/// the key in lists and logs.
package struct APIKey: Sendable, Equatable {
    package var id: String
    package var ownerID: String
    package var name: String
    package var prefix: String
    package var keyHash: String
    package var createdAt: Int64
    package var expiresAt: Int64?
    package var lastUsedAt: Int64?
    package var revokedAt: Int64?

    package static let scheme = "atk_"

    /// A new random key: 8 characters of prefix, 32 of secret (~190 bits).
    package static func generate() -> (plaintext: String, prefix: String, hash: String) {
        let prefix = RandomToken.base62(8)
        let secret = RandomToken.base62(32)
        let plaintext = "\(scheme)\(prefix)_\(secret)"
        return (plaintext, prefix, hash(plaintext))
    }

    /// SHA-256 is right here (not bcrypt): the key is long and random, so it cannot be guessed
    /// from its hash, and checking it on every request must be cheap.
    package static func hash(_ plaintext: String) -> String {
        Hex.encode(SHA256.hash(data: Data(plaintext.utf8)))
    }

    /// The prefix of a presented key, or nil when it is not shaped like one of ours.
    package static func prefix(of presented: String) -> String? {
        guard presented.hasPrefix(scheme) else { return nil }
        let rest = presented.dropFirst(scheme.count)
        let parts = rest.split(separator: "_", maxSplits: 1)
        guard parts.count == 2, parts[0].count == 8, parts[1].count == 32 else { return nil }
        return String(parts[0])
    }
}

struct APIKeyRow: Codable {
    var id: String
    var owner_id: String
    var name: String
    var prefix: String
    var key_hash: String
    var created_at: Int64
    var expires_at: Int64?
    var last_used_at: Int64?
    var revoked_at: Int64?

    func key() -> APIKey {
        APIKey(
            id: id,
            ownerID: owner_id,
            name: name,
            prefix: prefix,
            keyHash: key_hash,
            createdAt: created_at,
            expiresAt: expires_at,
            lastUsedAt: last_used_at,
            revokedAt: revoked_at
        )
    }
}
