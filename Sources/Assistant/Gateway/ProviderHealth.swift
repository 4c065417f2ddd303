import Foundation
import Synchronization

/// Which providers are cooling down after a failure. A failing upstream is skipped until its
/// cool-down ends (the upstream's `Retry-After` when it gave one, else a pause that doubles with
/// each failure in a row, 5 s up to 5 minutes); a success ends it. Kept per process: each process
/// finds out for itself within one request.
package final class ProviderHealth: Sendable {
    struct State {
        var failures = 0
        var until: ContinuousClock.Instant?
        var lastError: String?
    }

    let states = Mutex([String: State]())
    let base: Duration
    let longest: Duration

    package init(base: Duration = .seconds(5), longest: Duration = .seconds(300)) {
        self.base = base
        self.longest = longest
    }

    /// Whether the provider may be tried now.
    package func isAvailable(_ provider: String, now: ContinuousClock.Instant = .now) -> Bool {
        states.withLock { states in
            guard let until = states[provider]?.until else { return true }
            return until <= now
        }
    }

    /// When the cool-down ends (nil: not cooling down).
    package func coolingUntil(_ provider: String) -> ContinuousClock.Instant? {
        states.withLock { $0[provider]?.until }
    }

    package func failed(_ provider: String, reason: String, retryAfter: Duration?, now: ContinuousClock.Instant = .now) {
        states.withLock { states in
            var state = states[provider] ?? State()
            state.failures += 1
            let backoff = base * Int(min(1 << min(state.failures - 1, 16), 1 << 16))
            // An upstream that says how long to wait is believed; otherwise the backoff.
            state.until = now + min(longest, retryAfter ?? backoff)
            state.lastError = reason
            states[provider] = state
        }
    }

    package func succeeded(_ provider: String) {
        states.withLock { states in
            // Most requests succeed: leave the dictionary alone unless there is something to clear.
            if states[provider] != nil { states[provider] = nil }
        }
    }

    /// Per provider: the last error while it cools down (for /health and the admin list).
    package func snapshot(now: ContinuousClock.Instant = .now) -> [String: String] {
        states.withLock { states in
            states.compactMapValues { state in
                guard let until = state.until, until > now else { return nil }
                return state.lastError ?? "failing"
            }
        }
    }
}
