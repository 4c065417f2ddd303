import Core
import Foundation

@testable import Generation

/// Driving the queue without a worker: a claim with a 30 s lease, and a reap, at the current time.
extension JobStore {
    func claimNow(holder: String, preferences: ClaimPreferences = .fifo) async throws -> Job? {
        try await claim(holder: holder, preferences: preferences, leaseMillis: 30_000, now: Timestamp.millis(Date()))
    }

    func reapNow() async throws -> Int {
        try await reapExpired(now: Timestamp.millis(Date()))
    }
}
