import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers

/// Receives Atelier's webhooks on `POST /hook` and keeps each delivery's headers and body.
final class FakeWebhookReceiver: Sendable {
    typealias Delivery = (headers: HTTPFields, body: Data)

    let received = NIOLockedValueBox<[Delivery]>([])
    private let serverBox = NIOLockedValueBox<RunningServer?>(nil)

    static func start() async throws -> FakeWebhookReceiver {
        let receiver = FakeWebhookReceiver()
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 20)
            receiver.received.withLockedValue { $0.append((request.headers, Data(buffer: body))) }
            return .ok
        }
        let server = try await RunningServer.start(router)
        receiver.serverBox.withLockedValue { $0 = server }
        return receiver
    }

    var url: String { "\(serverBox.withLockedValue { $0! }.baseURL())/hook" }

    /// The first delivery, waiting up to 5 s for it.
    func first() async throws -> Delivery? {
        for _ in 0..<100 {
            if let delivery = received.withLockedValue({ $0.first }) { return delivery }
            try await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    func stop() async { await serverBox.withLockedValue { $0 }?.stop() }
}
