import Foundation
import NIOConcurrencyHelpers

/// A token bucket shared by every connection of every download in the process
/// (`ATELIER_PULL_MAX_BYTES_PER_SECOND`): connections take bytes as they receive them and sleep
/// when the bucket is empty, which slows their reads and so the server (TCP backpressure).
package final class BandwidthLimiter: Sendable {
    struct State {
        var available: Double
        var last: ContinuousClock.Instant
    }

    package let bytesPerSecond: Double
    private let burst: Double
    private let state: NIOLockedValueBox<State>

    package init(bytesPerSecond: Int) {
        self.bytesPerSecond = Double(max(1, bytesPerSecond))
        self.burst = max(Double(bytesPerSecond) / 4, 256 * 1024)
        self.state = NIOLockedValueBox(State(available: 0, last: .now))
    }

    /// Takes `count` bytes, waiting as long as the rate requires.
    package func take(_ count: Int) async throws {
        let wait = state.withLockedValue { state -> Double in
            let now = ContinuousClock.now
            let elapsed = now - state.last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            state.available = min(burst, state.available + seconds * bytesPerSecond)
            state.last = now
            state.available -= Double(count)
            return state.available < 0 ? -state.available / bytesPerSecond : 0
        }
        if wait > 0 { try await Task.sleep(for: .milliseconds(Int((wait * 1000).rounded(.up)))) }
    }

    /// `50M`, `500K`, `1G` or plain bytes per second.
    package static func parse(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        guard let last = trimmed.last else { return nil }
        let units: [Character: Double] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024]
        if let unit = units[last], let value = Double(trimmed.dropLast()), value > 0 { return Int(value * unit) }
        if let value = Int(trimmed), value > 0 { return value }
        return nil
    }
}
