import AsyncHTTPClient
import Core
import Foundation
import Generation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOCore

/// A RunPod serverless endpoint under `/v2/{endpoint}`: `/run` → IN_QUEUE, `/status/{id}` moving
/// through IN_PROGRESS to COMPLETED (output as RunPod's SDXL worker writes it), or FAILED /
/// TIMED_OUT when scripted; `/cancel/{id}`, `/health`. Requests need `Authorization: Bearer KEY`.
final class FakeRunPod: Sendable {
    struct State: Sendable {
        var jobs: [String: Int] = [:]
        /// Status polls before a job completes; `Int.max` keeps it running.
        var pollsUntilDone = 2
        var outcome = "COMPLETED"
        var cancelled: [String] = []
        var inputs: [Data] = []
    }

    let state = NIOLockedValueBox(State())
    let script = NIOLockedValueBox(Script())
    let server: RunningServer
    let apiKey: String

    private init(server: RunningServer, apiKey: String) {
        self.server = server
        self.apiKey = apiKey
    }

    static func start(apiKey: String = "rp_test_key_123") async throws -> FakeRunPod {
        let holder = NIOLockedValueBox<FakeRunPod?>(nil)
        @Sendable func fake() -> FakeRunPod { holder.withLockedValue { $0! } }
        let router = Router()
        @Sendable func authorized(_ request: Request) -> Bool { request.headers[.authorization] == "Bearer \(fake().apiKey)" }
        router.post("/v2/{endpoint}/run") { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["error": "Unauthorized"]) }
            if let fault = fake().script.withLockedValue({ $0.nextFault() }) { return fault }
            let id = "\(UUID().uuidString.lowercased())-u1"
            let input = try JSONSerialization.data(withJSONObject: body["input"] ?? [:])
            fake().state.withLockedValue {
                $0.jobs[id] = 0
                $0.inputs.append(input)
            }
            return FakeGPU.json(.ok, ["id": id, "status": "IN_QUEUE"])
        }
        router.get("/v2/{endpoint}/status/{id}") { request, context in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["error": "Unauthorized"]) }
            let id = context.parameters.get("id") ?? ""
            let (polls, limit, outcome, cancelled) = fake().state.withLockedValue { state -> (Int?, Int, String, Bool) in
                state.jobs[id]? += 1
                return (state.jobs[id], state.pollsUntilDone, state.outcome, state.cancelled.contains(id))
            }
            guard let polls else { return FakeGPU.json(.notFound, ["error": "request does not exist"]) }
            if cancelled { return FakeGPU.json(.ok, ["id": id, "status": "CANCELLED"]) }
            if polls == 1 { return FakeGPU.json(.ok, ["id": id, "status": "IN_QUEUE", "delayTime": 120]) }
            if polls <= limit { return FakeGPU.json(.ok, ["id": id, "status": "IN_PROGRESS", "delayTime": 812, "workerId": "h8lqoer1tzoqpx"]) }
            switch outcome {
            case "FAILED":
                return FakeGPU.json(
                    .ok,
                    [
                        "id": id, "status": "FAILED", "delayTime": 812, "executionTime": 2210,
                        "error": "{\"error_type\": \"<class 'ValueError'>\", \"error_message\": \"prompt is too long for the tokenizer\"}",
                    ]
                )
            case "TIMED_OUT":
                return FakeGPU.json(.ok, ["id": id, "status": "TIMED_OUT", "delayTime": 812])
            default:
                return FakeGPU.json(
                    .ok,
                    [
                        "id": id, "status": "COMPLETED", "delayTime": 812, "executionTime": 4120, "workerId": "h8lqoer1tzoqpx",
                        "output": [
                            "images": ["data:image/png;base64,\(FakeGPU.png.base64EncodedString())"],
                            "image_url": "data:image/png;base64,\(FakeGPU.png.base64EncodedString())", "seed": 42,
                        ] as [String: Any],
                    ]
                )
            }
        }
        router.post("/v2/{endpoint}/cancel/{id}") { request, context in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["error": "Unauthorized"]) }
            let id = context.parameters.get("id") ?? ""
            fake().state.withLockedValue { $0.cancelled.append(id) }
            return FakeGPU.json(.ok, ["id": id, "status": "CANCELLED"])
        }
        router.get("/v2/{endpoint}/health") { request, _ in
            guard authorized(request) else { return FakeGPU.json(.unauthorized, ["error": "Unauthorized"]) }
            return FakeGPU.json(
                .ok,
                [
                    "jobs": ["completed": 1, "failed": 0, "inProgress": 0, "inQueue": 0, "retried": 0],
                    "workers": ["idle": 1, "initializing": 0, "ready": 1, "running": 0, "throttled": 0, "unhealthy": 0],
                ]
            )
        }
        let server = try await RunningServer.start(router)
        let made = FakeRunPod(server: server, apiKey: apiKey)
        holder.withLockedValue { $0 = made }
        return made
    }

    var endpoint: String { "\(server.baseURL())/v2/ep-test" }
    func stop() async { await server.stop() }
}
