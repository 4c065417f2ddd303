import AsyncHTTPClient
import Core
import Foundation
import Generation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import NIOConcurrencyHelpers
import NIOCore

/// ComfyUI's server: `/prompt` (prompt_id, number, node_errors; 400 with error + node_errors),
/// `/history/{id}` (empty until done, then outputs and status), `/view`, `/queue`, `/interrupt`,
/// `/upload/image` (a multipart form with `image`, `type`, `overwrite`, `subfolder`; answers
/// name, subfolder and type as ComfyUI's `image_upload` does), and `/ws?clientId=…`: a `status`
/// message on connect, then for the client's prompt `executing` per node, `progress` per step,
/// `executing` with a null node and `execution_success`, as `server.py`/`execution.py` send them.
final class FakeComfyUI: Sendable {
    struct State: Sendable {
        var prompts: [String: Data] = [:]
        /// History polls before a prompt shows as done.
        var pollsUntilDone = 2
        var polls: [String: Int] = [:]
        var failWith: String?
        var refuseWith: String?
        var deleted: [String] = []
        var interrupts = 0
        /// Uploaded files by name, and the form's text fields of the last upload.
        var uploads: [String: Data] = [:]
        var uploadFields: [String: String] = [:]
        /// `/ws`: whether upgrades are accepted, the clients seen, the sampling steps it reports
        /// (with `stepTime` between them), and the prompts it has reported done (then `/history`
        /// shows them as done whatever `pollsUntilDone` says).
        var webSocket = true
        var socketClients: [String] = []
        var stepTime: Duration = .milliseconds(10)
        var finishedOnSocket: Set<String> = []
        var clientOfPrompt: [String: String] = [:]
        /// Holds `/prompt`'s answer until the socket has reported the prompt done (a prompt that
        /// ComfyUI finishes from its cache before the client has read the answer).
        var answerAfterFinish = false
    }

    let state = NIOLockedValueBox(State())
    let script = NIOLockedValueBox(Script())
    let server: RunningServer

    private init(server: RunningServer) { self.server = server }

    static func start() async throws -> FakeComfyUI {
        let holder = NIOLockedValueBox<FakeComfyUI?>(nil)
        @Sendable func fake() -> FakeComfyUI { holder.withLockedValue { $0! } }
        let router = Router()
        router.post("/prompt") { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            if let fault = fake().script.withLockedValue({ $0.nextFault() }) { return fault }
            if let refusal = fake().state.withLockedValue({ $0.refuseWith }) {
                return FakeGPU.json(
                    .badRequest,
                    [
                        "error": [
                            "type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": "",
                            "extra_info": [:],
                        ] as [String: Any],
                        "node_errors": [
                            "4": [
                                "errors": [
                                    ["type": "value_not_in_list", "message": "Value not in list", "details": refusal, "extra_info": [:]]
                                        as [String: Any]
                                ],
                                "dependent_outputs": ["9"], "class_type": "CheckpointLoaderSimple",
                            ] as [String: Any]
                        ],
                    ]
                )
            }
            let id = UUID().uuidString.lowercased()
            let graph = try JSONSerialization.data(withJSONObject: body["prompt"] ?? [:])
            let number = fake().state.withLockedValue { state -> Int in
                state.prompts[id] = graph
                state.clientOfPrompt[id] = body["client_id"] as? String
                return state.prompts.count
            }
            if fake().state.withLockedValue({ $0.answerAfterFinish }) {
                for _ in 0..<500 where !fake().state.withLockedValue({ $0.finishedOnSocket.contains(id) }) {
                    try await Task.sleep(for: .milliseconds(10))
                }
            }
            return FakeGPU.json(.ok, ["prompt_id": id, "number": number, "node_errors": [:]])
        }
        router.get("/history/{id}") { _, context in
            let id = context.parameters.get("id") ?? ""
            let (done, failure) = fake().state.withLockedValue { state -> (Bool, String?) in
                state.polls[id, default: 0] += 1
                let done = state.polls[id]! > state.pollsUntilDone || state.finishedOnSocket.contains(id)
                return (state.prompts[id] != nil && done, state.failWith)
            }
            guard done else { return FakeGPU.json(.ok, [:]) }
            if let failure {
                return FakeGPU.json(
                    .ok,
                    [
                        id: [
                            "prompt": [], "outputs": [:],
                            "status": [
                                "status_str": "error", "completed": false,
                                "messages": [
                                    ["execution_start", ["prompt_id": id, "timestamp": 1]],
                                    [
                                        "execution_error",
                                        [
                                            "prompt_id": id, "node_id": "3", "node_type": "KSampler", "exception_message": failure,
                                            "exception_type": "torch.OutOfMemoryError", "traceback": [],
                                        ] as [String: Any],
                                    ],
                                ],
                            ] as [String: Any],
                        ] as [String: Any]
                    ]
                )
            }
            return FakeGPU.json(
                .ok,
                [
                    id: [
                        "prompt": [0, id, [:], [:], ["9"]],
                        "outputs": ["9": ["images": [["filename": "atelier_00001_.png", "subfolder": "", "type": "output"]]]],
                        "status": ["status_str": "success", "completed": true, "messages": [["execution_success", ["prompt_id": id]]]]
                            as [String: Any],
                    ] as [String: Any]
                ]
            )
        }
        router.get("/view") { request, _ in
            guard request.uri.queryParameters.get("filename") == "atelier_00001_.png", request.uri.queryParameters.get("type") == "output" else {
                return Response(status: .notFound)
            }
            return Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(data: FakeGPU.png)))
        }
        router.post("/queue") { request, _ in
            let body = FakeGPU.object(try await FakeGPU.record(fake().script, request))
            fake().state.withLockedValue { $0.deleted += body["delete"] as? [String] ?? [] }
            return FakeGPU.json(.ok, [:])
        }
        router.post("/interrupt") { request, _ in
            _ = try await FakeGPU.record(fake().script, request)
            fake().state.withLockedValue { $0.interrupts += 1 }
            return FakeGPU.json(.ok, [:])
        }
        router.post("/upload/image") { request, _ in
            let body = try await FakeGPU.record(fake().script, request)
            let parts = MultipartParts.parse(body, contentType: request.headers[.contentType] ?? "")
            guard let image = parts["image"], let filename = image.filename else { return Response(status: .badRequest) }
            let fields = parts.filter { $0.value.filename == nil }.mapValues { String(decoding: $0.data, as: UTF8.self) }
            fake().state.withLockedValue {
                $0.uploads[filename] = image.data
                $0.uploadFields = fields
            }
            return FakeGPU.json(.ok, ["name": filename, "subfolder": fields["subfolder"] ?? "", "type": fields["type"] ?? "input"])
        }
        router.get("/system_stats") { _, _ in
            FakeGPU.json(.ok, ["system": ["os": "posix", "comfyui_version": "0.3.40"], "devices": []] as [String: Any])
        }
        let server = try await RunningServer.start(
            router,
            server: .http1WebSocketUpgrade { request, _, _ in
                let path = request.path ?? ""
                guard path.hasPrefix("/ws"), fake().state.withLockedValue({ $0.webSocket }),
                    let client = URLComponents(string: path)?.queryItems?.first(where: { $0.name == "clientId" })?.value
                else { return .dontUpgrade }
                return .upgrade([:]) { _, outbound, _ in try await fake().runSocket(client: client, outbound: outbound) }
            }
        )
        let made = FakeComfyUI(server: server)
        holder.withLockedValue { $0 = made }
        return made
    }

    /// One client's socket: waits for a prompt it queued, then reports it step by step.
    func runSocket(client: String, outbound: WebSocketOutboundWriter) async throws {
        func send(_ type: String, _ data: [String: Any]) async throws {
            let text = String(decoding: try JSONSerialization.data(withJSONObject: ["type": type, "data": data]), as: UTF8.self)
            try await outbound.write(.text(text))
        }
        state.withLockedValue { $0.socketClients.append(client) }
        try await send("status", ["status": ["exec_info": ["queue_remaining": 0]], "sid": client])
        var reported: Set<String> = []
        while !Task.isCancelled {
            let next = state.withLockedValue { state in
                state.clientOfPrompt.first { $0.value == client && !reported.contains($0.key) }.map { ($0.key, state.prompts[$0.key]) }
            }
            guard let (prompt, graph) = next else {
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            reported.insert(prompt)
            let steps = ((FakeGPU.object(graph ?? Data())["3"] as? [String: Any])?["inputs"] as? [String: Any])?["steps"] as? Int ?? 20
            try await send("executing", ["node": "3", "display_node": "3", "prompt_id": prompt])
            for step in 1...steps {
                try await Task.sleep(for: state.withLockedValue { $0.stepTime })
                try await send("progress", ["value": step, "max": steps, "prompt_id": prompt, "node": "3"])
                if step == steps / 2 {
                    // Another client's prompt, announced to everyone, ending: not this job's.
                    try await send("progress", ["value": steps, "max": steps, "prompt_id": "someone-else", "node": "3"])
                    try await send("executing", ["node": NSNull(), "prompt_id": "someone-else"])
                }
            }
            state.withLockedValue { _ = $0.finishedOnSocket.insert(prompt) }
            try await send("executing", ["node": NSNull(), "prompt_id": prompt])
            try await send("execution_success", ["prompt_id": prompt, "timestamp": 1_764_000_000_000])
        }
    }

    var url: String { server.baseURL() }
    func stop() async { await server.stop() }
    func graphs() -> [[String: Any]] { state.withLockedValue { Array($0.prompts.values) }.map(FakeGPU.object) }
}
