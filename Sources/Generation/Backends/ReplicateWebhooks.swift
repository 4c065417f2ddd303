import Core
import Foundation
import NIOConcurrencyHelpers

/// Replicate calling back when a prediction completes, so a job learns its result at once instead
/// of at its next poll. Replicate backends add the account's signing secret and register each
/// prediction they wait for; `POST /api/v1/replicate/webhook` wakes the job when a delivery's
/// Standard Webhooks signature checks out with one of those secrets. A delivery is only a wake-up:
/// the job then reads the prediction from Replicate itself, so a body signed with another
/// account's secret (or replayed) cannot hand a job someone else's output. Polling stays as a
/// slow safety net, for a lost delivery or one that reached another Atelier process.
package final class ReplicateWebhooks: Sendable {
    /// Where Replicate is asked to call (nil: no public address, predictions are polled).
    package let callbackURL: String?
    /// How often a prediction with a webhook is still polled.
    package let fallbackPoll: Duration

    private struct State {
        var keys: [[UInt8]] = []
        var waiting: [String: WakeSignal] = [:]
        /// Verified deliveries for predictions nobody waits for yet (a fast prediction can
        /// complete before its creator registered it), forgotten after ten minutes.
        var early: [String: ContinuousClock.Instant] = [:]
    }

    private let state = NIOLockedValueBox(State())

    package static let path = "/api/v1/replicate/webhook"

    /// `publicURL`: the address Replicate can reach this server at (ATELIER_PUBLIC_URL).
    package init(publicURL: String?, fallbackPoll: Duration = .seconds(5)) {
        callbackURL = publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) + Self.path : $0 + Self.path }
        self.fallbackPoll = fallbackPoll
    }

    func addKey(_ key: [UInt8]) {
        state.withLockedValue { if !$0.keys.contains(key) { $0.keys.append(key) } }
    }

    /// Starts waiting for `id`; the signal fires when its delivery arrives.
    func register(_ id: String) -> WakeSignal {
        let signal = WakeSignal()
        let early = state.withLockedValue { state -> Bool in
            state.waiting[id] = signal
            return state.early.removeValue(forKey: id) != nil
        }
        if early { signal.signal() }
        return signal
    }

    func unregister(_ id: String) {
        state.withLockedValue {
            $0.waiting[id] = nil
            $0.early[id] = nil
        }
    }

    /// Checks a delivery and wakes the job waiting for it; returns the prediction id.
    package func receive(id: String?, timestamp: String?, signatures: String?, body: Data, now: Date = Date()) async throws -> String {
        guard let id, let timestamp, let signatures else {
            throw AppError.validation(
                field: "webhook-signature",
                "a Replicate webhook needs the webhook-id, webhook-timestamp and webhook-signature headers"
            )
        }
        let keys = state.withLockedValue { $0.keys }
        guard
            keys.contains(where: {
                StandardWebhooks.verify(
                    id: id,
                    timestamp: timestamp,
                    signatures: signatures,
                    body: body,
                    key: $0,
                    now: Int(now.timeIntervalSince1970)
                )
            })
        else {
            throw AppError.unauthorized(
                "the webhook signature does not match the signing secret of any Replicate account in use here (or it is over 5 minutes old)"
            )
        }
        guard let prediction = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let predictionID = prediction["id"] as? String else {
            throw AppError.validation(field: "body", "a Replicate webhook body is a prediction object with an id")
        }
        let signal = state.withLockedValue { state -> WakeSignal? in
            if let waiting = state.waiting[predictionID] { return waiting }
            let cutoff = ContinuousClock.now - .seconds(600)
            state.early = state.early.filter { $0.value > cutoff }
            state.early[predictionID] = ContinuousClock.now
            return nil
        }
        signal?.signal()
        return predictionID
    }
}
