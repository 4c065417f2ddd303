import AsyncHTTPClient
import Core
import Foundation
import Hub
import Logging
import NIOCore

/// Delivers signed webhooks (`download.succeeded`, `download.failed`, …) to the configured URL,
/// retrying with backoff. Each event carries a delivery id so receivers can drop duplicates.
package struct WebhookSender: Sendable {
    let url: URL?
    let secret: Secret?
    /// The webhook URL is checked like every URL Atelier is given (`AddressPolicy`), at each delivery.
    let client: OutboundHTTP
    let logger: Logger
    let maxAttempts = 6

    package init(url: URL?, secret: Secret?, client: OutboundHTTP, logger: Logger) {
        self.url = url
        self.secret = secret
        self.client = client
        self.logger = logger
    }

    /// Sends in the background; returns at once. `deliveryID` names an event that could be
    /// announced twice (the same id lets the receiver drop the second); a fresh one otherwise.
    package func send(event: String, data: some Encodable & Sendable, deliveryID: String? = nil) {
        guard let url else { return }
        let delivery = deliveryID ?? ID.make("whd")
        let envelope = Envelope(id: delivery, type: event, created_at: Date(), data: data)
        guard let body = try? APIJSON.encoder.encode(envelope) else { return }
        let secret = self.secret
        let client = self.client
        let logger = self.logger
        let attempts = self.maxAttempts
        Task {
            for attempt in 0..<attempts {
                var request = HTTPClientRequest(url: url.absoluteString)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "X-Atelier-Delivery", value: delivery)
                request.headers.add(name: "X-Atelier-Event", value: event)
                if let secret {
                    request.headers.add(
                        name: WebhookSignature.header,
                        value: WebhookSignature.sign(body: body, secret: secret, timestamp: Int(Date().timeIntervalSince1970))
                    )
                }
                request.body = .bytes(ByteBuffer(data: body))
                do {
                    let response = try await client.execute(request, timeout: .seconds(15))
                    _ = try? await response.body.collect(upTo: 64 << 10)
                    if (200..<300).contains(Int(response.status.code)) { return }
                    logger.notice("webhook refused", metadata: ["delivery": "\(delivery)", "status": "\(response.status.code)"])
                } catch let refusal as AppError {
                    // The address policy refused the URL: retrying cannot change that.
                    logger.error("webhook not sent", metadata: ["delivery": "\(delivery)", "error": "\(refusal.detail)"])
                    return
                } catch {
                    logger.notice("webhook failed", metadata: ["delivery": "\(delivery)", "error": "\(NetworkErrors.describe(error))"])
                }
                let wait = min(300.0, pow(2.0, Double(attempt))) * Double.random(in: 0.75...1.25)
                try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
            }
            logger.error("webhook given up", metadata: ["delivery": "\(delivery)", "event": "\(event)"])
        }
    }

    struct Envelope<Payload: Encodable & Sendable>: Encodable, Sendable {
        var id: String
        var type: String
        var created_at: Date
        var data: Payload
    }
}
