import Core
import Crypto
import Foundation
import Synchronization

/// Who a credential was, for a moment: checking an API key or a JWT reads the key and user rows,
/// which at thousands of requests a second (the LLM gateway) cost more than everything else the
/// request does. An entry lives `lifetime` (2 s); a change made through this process (a revoked
/// key, a disabled or deleted user, a new role or password) clears the cache at once, and one
/// made by another process on the same database takes effect within `lifetime`.
package final class PrincipalCache: Sendable {
    struct Entry {
        var principal: Principal
        var until: ContinuousClock.Instant
    }

    let entries = Mutex([String: Entry]())
    let lifetime: Duration
    static let maxEntries = 10_000

    package init(lifetime: Duration = .seconds(2)) { self.lifetime = lifetime }

    /// The cache key of a credential: its digest, so the cache holds no usable secret.
    static func key(_ credential: String) -> String {
        Hex.encode(SHA256.hash(data: Data(credential.utf8)))
    }

    func principal(for key: String, now: ContinuousClock.Instant = .now) -> Principal? {
        entries.withLock { entries in
            guard let entry = entries[key], entry.until > now else { return nil }
            return entry.principal
        }
    }

    func remember(_ principal: Principal, for key: String, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if entries.count >= Self.maxEntries { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(principal: principal, until: now + lifetime)
        }
    }

    package func clear() {
        entries.withLock { $0.removeAll() }
    }
}
