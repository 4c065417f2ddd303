import AsyncHTTPClient
import Core
import Foundation
import Generation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOCore

/// Replicate's predictions API: create (official-model route or by version), get through
/// `urls.get`, cancel through `urls.cancel`; output is a list of file URLs on another path.
final class FakeReplicate: Sendable {
    struct State: Sendable {
        var predictions: [String: Int] = [:]
        var pollsUntilDone = 2
        var failWith: String?
        /// An end status with no other meaning to clients (as Replicate has added before).
        var endWith: String?
        var canceled: [String] = []
        var created: [Data] = []
        /// GETs of a prediction (polls).
        var reads = 0
        /// Webhook deliveries: the HTTP status the receiver answered each one with.
        var deliveries: [UInt] = []
        /// Sign webhooks with a different secret than the one served (a forged delivery).
        var forgeSignatures = false
        /// A reverse proxy in front of the receiver: webhook URLs starting with `.public` go to `.local`.
        var proxy: (public: String, local: String)?
    }

    let state = NIOLockedValueBox(State())
    let script = NIOLockedValueBox(Script())
    let server: RunningServer
    let token: String
    /// The account's webhook signing secret, as `GET /v1/webhooks/default/secret` serves it.
    let signingSecret = "whsec_" + Data("atelier-fake-replicate-signing-key".utf8).base64EncodedString()

    private init(server: RunningServer, token: String) {
        self.server = server
        self.token = token
    }

    static func start(token: String = "r8_test_token") async throws -> FakeReplicate {
        let holder = NIOLockedValueBox<FakeReplicate?>(nil)
        @Sendable func fake() -> FakeReplicate { holder.withLockedValue { $0! } }
        let router = Router()
        @Sendable func authorized(_ request: Request) -> Bool { request.headers[.authorization] == "Bearer \(fake().token)" }
        @Sendable func prediction(_ id: String, status: String, output: Any = NSNull(), error: Any = NSNull(), logs: String = "") -> [String: Any] {
            let base = fake().server.baseURL()
            return [
                "id": id, "model": "stability-ai/sdxl", "version": "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc",
                "input": [:], "logs": logs, "output": output, "error": error, "status": status, "data_removed": false,
                "created_at": "2026-11-25T21:00:00.000Z",
                "completed_at": ["starting", "processing"].contains(status) ? NSNull() : "2026-11-25T21:00:04.000Z",
                "urls": [
                    "get": "\(base)/v1/predictions/\(id)",
                    "cancel": "\(base)/v1/predictions/\(id)/cancel",
                    "stream": "\(base)/v1/stream/\(id)",
                ],
            ]
        }
        let create: @Sendable (Request, BasicRequestContext) async throws -> Response = { request, _ in
            let body = try await FakeGPU.record(fake().script, request)
            guard authorized(request) else {
                return FakeGPU.json(
                    .unauthorized,
                    ["title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401]
                )
            }
            if let fault = fake().script.withLockedValue({ $0.nextFault() }) { return fault }
            let id = String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(26))
            fake().state.withLockedValue {
                $0.predictions[id] = 0
                $0.created.append(body)
            }
            // With a webhook, the prediction completes on its own after a moment and Replicate
            // POSTs it there, signed (Standard Webhooks), once it is `completed`.
            if let webhook = FakeGPU.object(body)["webhook"] as? String {
                let done = prediction(id, status: "succeeded", output: ["\(fake().server.baseURL(host: "localhost"))/files/\(id)/out-0.png"])
                Task {
                    try? await Task.sleep(for: .milliseconds(100))
                    fake().state.withLockedValue { $0.predictions[id] = Int.max / 2 }
                    await fake().deliver(done, to: webhook)
                }
            }
            return FakeGPU.json(.created, prediction(id, status: "starting"))
        }
        router.post("/v1/models/{owner}/{name}/predictions", use: create)
        router.post("/v1/predictions", use: create)
        router.get("/v1/predictions/{id}") { request, context in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated"]) }
            let id = context.parameters.get("id") ?? ""
            let (polls, limit, failure, canceled, end) = fake().state.withLockedValue { state -> (Int?, Int, String?, Bool, String?) in
                state.predictions[id]? += 1
                state.reads += 1
                return (state.predictions[id], state.pollsUntilDone, state.failWith, state.canceled.contains(id), state.endWith)
            }
            guard let polls else { return FakeGPU.json(.notFound, ["detail": "Not found."]) }
            if canceled { return FakeGPU.json(.ok, prediction(id, status: "canceled")) }
            if polls <= limit {
                return FakeGPU.json(.ok, prediction(id, status: "processing", logs: "Using seed: 42\n 50%|█████     | 25/50 [00:02<00:02, 10.1it/s]"))
            }
            if let failure { return FakeGPU.json(.ok, prediction(id, status: "failed", error: failure)) }
            if let end { return FakeGPU.json(.ok, prediction(id, status: end)) }
            return FakeGPU.json(
                .ok,
                prediction(id, status: "succeeded", output: ["\(fake().server.baseURL(host: "localhost"))/files/\(id)/out-0.png"])
            )
        }
        router.post("/v1/predictions/{id}/cancel") { request, context in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated"]) }
            let id = context.parameters.get("id") ?? ""
            fake().state.withLockedValue { $0.canceled.append(id) }
            return FakeGPU.json(.ok, prediction(id, status: "canceled"))
        }
        router.get("/v1/webhooks/default/secret") { request, _ in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated"]) }
            return FakeGPU.json(.ok, ["key": fake().signingSecret])
        }
        router.get("/v1/account") { request, _ in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["detail": "Unauthenticated"]) }
            return FakeGPU.json(.ok, ["type": "user", "username": "atelier", "name": "Atelier", "github_url": NSNull()])
        }
        router.get("/files/{id}/{file}") { request, _ in
            // Delivery URLs are public: a token sent here would be a leak.
            guard request.headers[.authorization] == nil else { return Response(status: .badRequest) }
            return Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(data: FakeGPU.png)))
        }
        let server = try await RunningServer.start(router)
        let made = FakeReplicate(server: server, token: token)
        holder.withLockedValue { $0 = made }
        return made
    }

    var url: String { "\(server.baseURL())/v1" }
    func stop() async { await server.stop() }

    /// POSTs a prediction to a webhook URL as Replicate does, and records the receiver's status.
    func deliver(_ prediction: [String: Any], to url: String) async {
        let body = (try? JSONSerialization.data(withJSONObject: prediction)) ?? Data()
        let forged = state.withLockedValue { $0.forgeSignatures }
        let key = StandardWebhooks.key(fromSecret: forged ? "whsec_" + Data("someone else".utf8).base64EncodedString() : signingSecret)!
        let id = "msg_" + UUID().uuidString.lowercased()
        let timestamp = Int(Date().timeIntervalSince1970)
        var target = url
        if let proxy = state.withLockedValue({ $0.proxy }), url.hasPrefix(proxy.public) {
            target = proxy.local + url.dropFirst(proxy.public.count)
        }
        var request = HTTPClientRequest(url: target)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "webhook-id", value: id)
        request.headers.add(name: "webhook-timestamp", value: String(timestamp))
        request.headers.add(name: "webhook-signature", value: StandardWebhooks.sign(id: id, timestamp: timestamp, body: body, key: key))
        request.body = .bytes(ByteBuffer(data: body))
        let status = (try? await HTTPClient.shared.execute(request, timeout: .seconds(10)))?.status.code ?? 0
        state.withLockedValue { $0.deliveries.append(status) }
    }
}
