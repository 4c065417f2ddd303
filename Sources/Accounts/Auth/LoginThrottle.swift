import Core
import Foundation

/// Slows password guessing: after `maxFailures` failed logins for one username from one address
/// within `window`, further attempts for that pair answer 429 until the window has passed; one
/// address failing across many usernames is limited too (`maxFailuresPerAddress`, 0 = not limited),
/// which stops that address from logging in to any account for the window. A success clears the
/// pair. The address is the real client's (behind a trusted proxy, the forwarded one), so one
/// client cannot lock out everyone who shares the proxy. Kept in memory per process: with N processes an attacker gets at most N times the
/// budget, which still bounds guessing; the state is small and pruned as it ages.
package actor LoginThrottle {
    package struct Policy: Sendable {
        package var maxFailures: Int
        package var maxFailuresPerAddress: Int
        package var window: TimeInterval

        package init(maxFailures: Int = 5, maxFailuresPerAddress: Int = 50, window: TimeInterval = 15 * 60) {
            self.maxFailures = maxFailures
            self.maxFailuresPerAddress = maxFailuresPerAddress
            self.window = window
        }
    }

    let policy: Policy
    let clock: WallClock
    private var failures: [String: [Date]] = [:]
    private static let maxTrackedKeys = 100_000

    package init(policy: Policy = Policy(), clock: WallClock = .system) {
        self.policy = policy
        self.clock = clock
    }

    /// Throws 429 with Retry-After when this username/address must wait.
    package func check(username: String, address: String) throws {
        let now = clock.now()
        var limits = [(pairKey(username, address), policy.maxFailures)]
        if policy.maxFailuresPerAddress > 0 { limits.append((addressKey(address), policy.maxFailuresPerAddress)) }
        for (key, limit) in limits {
            let recent = recentFailures(key, now: now)
            if recent.count >= limit, let oldest = recent.first {
                let retryAfter = Int((oldest.addingTimeInterval(policy.window).timeIntervalSince(now)).rounded(.up))
                throw AppError.rateLimited(
                    "too many failed logins; wait \(max(1, retryAfter)) seconds before trying again",
                    retryAfter: retryAfter
                )
            }
        }
    }

    package func recordFailure(username: String, address: String) {
        let now = clock.now()
        if failures.count >= Self.maxTrackedKeys { prune(now: now) }
        for key in [pairKey(username, address), addressKey(address)] {
            failures[key, default: []].append(now)
        }
    }

    package func recordSuccess(username: String, address: String) {
        failures[pairKey(username, address)] = nil
    }

    private func recentFailures(_ key: String, now: Date) -> [Date] {
        let recent = (failures[key] ?? []).filter { now.timeIntervalSince($0) < policy.window }
        failures[key] = recent.isEmpty ? nil : recent
        return recent
    }

    private func prune(now: Date) {
        failures = failures.compactMapValues { dates in
            let recent = dates.filter { now.timeIntervalSince($0) < policy.window }
            return recent.isEmpty ? nil : recent
        }
    }

    private func pairKey(_ username: String, _ address: String) -> String { "p|\(username.lowercased())|\(address)" }
    private func addressKey(_ address: String) -> String { "a|\(address)" }
}
